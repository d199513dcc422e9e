"""The prolog refuses a plugstack.conf path that cannot work before it builds anything."""
import pytest

from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.plugconf import PlugConf
from shifter_slurm.prolog import check_plugstack_paths

pytestmark = pytest.mark.unit


def test_missing_extern_setup(tmp_path):
    with pytest.raises(ShifterSlurmError, match=r"^plugstack.conf: shifter_slurm.so: extern_setup=.*/nope: "
                                                r"not an executable file on "):
        check_plugstack_paths(PlugConf(extern_setup=str(tmp_path / "nope")))


def test_non_executable_extern_setup(tmp_path):
    script = tmp_path / "setup"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ShifterSlurmError, match="extern_setup="):
        check_plugstack_paths(PlugConf(extern_setup=str(script)))
    script.chmod(0o755)
    check_plugstack_paths(PlugConf(extern_setup=str(script)))


def test_memory_cgroup_must_be_a_cgroup(tmp_path):
    with pytest.raises(ShifterSlurmError, match=r"^plugstack.conf: shifter_slurm.so: memory_cgroup=.*: "
                                                r"not a cgroup directory on "):
        check_plugstack_paths(PlugConf(memory_cgroup=str(tmp_path)))
    (tmp_path / "cgroup.procs").write_text("")
    check_plugstack_paths(PlugConf(memory_cgroup=str(tmp_path)))
