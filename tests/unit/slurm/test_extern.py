"""extern_cgroup: finding the extern step's freezer cgroup in /proc/<pid>/cgroup."""
import pytest

from shifter_slurm.extern import freezer_path

pytestmark = pytest.mark.unit

PROC_CGROUP = """\
12:pids:/
8:freezer:/slurm_vm/uid_1902/job_7/step_extern
4:cpu,cpuacct:/
1:name=systemd:/
0::/
"""


def test_freezer_path_of_a_step():
    assert freezer_path(PROC_CGROUP) == "/slurm_vm/uid_1902/job_7/step_extern"


def test_freezer_path_without_proctrack_cgroup_is_the_root():
    assert freezer_path("8:freezer:/\n0::/\n") == "/"


def test_no_freezer_hierarchy():
    assert freezer_path("0::/user.slice\n") is None
