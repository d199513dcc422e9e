"""--ccm tasks are placed only in a --ccm (local:/) container of the job's user.

SHIFTER_CCM=1 in a step's environment is the user's to set; the decision rests
on the container's root-written state file alone.
"""
import os

import pytest

from shifter_runtime.state import ContainerState
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.stepd import check_ccm_container

pytestmark = pytest.mark.unit
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the state file must be root's")


def udi_with(tmp_path, state: bytes | None = None):
    (tmp_path / "var").mkdir()
    if state is not None:
        (tmp_path / "var" / "shifterConfig.json").write_bytes(state)
    return str(tmp_path)


@as_root
def test_local_root_container_of_the_user_is_accepted(tmp_path):
    check_ccm_container(udi_with(tmp_path, ContainerState("/", "alice").to_bytes()), "alice")


def test_no_container(tmp_path):
    with pytest.raises(ShifterSlurmError, match=r"--ccm: no container on this node .* needs --exclusive"):
        check_ccm_container(udi_with(tmp_path), "alice")


@pytest.mark.parametrize("state", [
    ContainerState("f00d" * 16, "alice").to_bytes(),   # an --image job's container
    ContainerState("/home/alice/root", "alice").to_bytes(),
    b"not json",
])
def test_other_containers_are_refused(tmp_path, state):
    with pytest.raises(ShifterSlurmError, match="was not built for --ccm .*; task refused"):
        check_ccm_container(udi_with(tmp_path, state), "alice")


@as_root
def test_another_users_container_is_refused(tmp_path):
    with pytest.raises(ShifterSlurmError, match="is bob's, not alice's; task refused"):
        check_ccm_container(udi_with(tmp_path, ContainerState("/", "bob").to_bytes()), "alice")


@as_root
def test_a_state_file_root_did_not_write_is_refused(tmp_path):
    udi = udi_with(tmp_path, ContainerState("/", "alice").to_bytes())
    os.chown(tmp_path / "var" / "shifterConfig.json", 4242, 4242)
    with pytest.raises(ShifterSlurmError, match="not built for --ccm"):
        check_ccm_container(udi, "alice")


def test_a_symlinked_state_file_is_not_followed(tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_bytes(ContainerState("/", "alice").to_bytes())
    udi = udi_with(tmp_path)
    os.symlink(real, tmp_path / "var" / "shifterConfig.json")
    with pytest.raises(ShifterSlurmError, match=r"^--ccm: .*/var/shifterConfig.json: "
                                                r"Too many levels of symbolic links; task refused$"):
        check_ccm_container(udi, "alice")

