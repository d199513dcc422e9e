import pytest

from shifter_slurm.allocator import image_request, inherited_pin, job_environment, pin
from shifter_slurm.options import Request

pytestmark = pytest.mark.unit

TAG = Request(image_type="docker", image="busybox:latest")


def test_job_environment_for_a_pinned_tag():
    env = job_environment(Request("docker", "busybox:latest", "/a:/b", "mpich"), "f00d", "busybox:latest", None)
    assert env == {
        "SHIFTER_IMAGE": "f00d", "SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGEREQUEST": "busybox:latest",
        "SHIFTER_VOLUME": "/a:/b", "SHIFTER_MODULE": "mpich",
    }


def test_job_environment_for_ccm_with_key():
    env = job_environment(Request("local", "/", ccm=True), "/", "/", "ssh-ed25519 AAAA shifter")
    assert env["SHIFTER_IMAGETYPE"] == "local"
    assert env["SHIFTER_CCM"] == "1"
    assert env["SHIFTER_SSH_PUBKEY"] == "ssh-ed25519 AAAA shifter"


def test_id_and_local_images_need_no_gateway():
    assert pin(Request("id", "beef"), None, {}) == "beef"
    assert pin(Request("local", "/"), None, {}) == "/"


def test_step_inside_a_job_keeps_the_jobs_pin():
    env = {"SLURM_JOB_ID": "7", "SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": "old",
           "SHIFTER_IMAGEREQUEST": "busybox:latest"}
    assert inherited_pin(TAG, env) == "old"
    assert pin(TAG, None, env) == "old"


@pytest.mark.parametrize("env", [
    {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": "old", "SHIFTER_IMAGEREQUEST": "busybox:latest"},
    {"SLURM_JOB_ID": "7", "SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": "old", "SHIFTER_IMAGEREQUEST": "other:1"},
])
def test_no_inherited_pin_outside_a_job_or_for_another_tag(env):
    assert inherited_pin(TAG, env) is None


def test_step_of_a_pinned_job_keeps_the_original_tag_as_request():
    env = {"SHIFTER_IMAGE": "f00d", "SHIFTER_IMAGEREQUEST": "busybox:latest"}
    assert image_request(Request("id", "f00d"), env) == "busybox:latest"
    assert image_request(Request("id", "beef"), env) == "beef"
    assert image_request(TAG, env) == "busybox:latest"
