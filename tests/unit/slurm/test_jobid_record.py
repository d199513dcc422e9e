"""The epilog's job-id record lives outside the container, in a root-only directory."""
import os

import pytest

from shifter_slurm import marker

pytestmark = pytest.mark.unit


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch):
    jobs = tmp_path / "run" / "jobs"
    monkeypatch.setattr(marker, "JOBS_DIR", str(jobs))
    return jobs


def test_record_is_named_after_the_udi_mount_and_root_only(jobs_dir):
    marker.write("/var/udi%Mount", 42)
    assert os.listdir(jobs_dir) == ["%2Fvar%2Fudi%25Mount"]
    assert jobs_dir.stat().st_mode & 0o777 == 0o700
    assert (jobs_dir / "%2Fvar%2Fudi%25Mount").stat().st_mode & 0o777 == 0o600
    assert marker.read("/var/udi%Mount") == 42
    assert marker.read("/var/udi") is None


def test_rewrite_and_remove(jobs_dir):
    marker.write("/u", 1)
    marker.write("/u", 2)
    assert marker.read("/u") == 2
    marker.remove("/u")
    marker.remove("/u")
    assert marker.read("/u") is None


def test_a_symlink_at_the_record_is_neither_followed_nor_believed(jobs_dir, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("7\n")
    jobs_dir.mkdir(parents=True)
    os.symlink(victim, marker.path("/u"))
    assert marker.read("/u") is None
    with pytest.raises(OSError):
        marker.write("/u", 42)
    assert victim.read_text() == "7\n"


def test_garbage_is_no_job(jobs_dir):
    jobs_dir.mkdir(parents=True)
    with open(marker.path("/u"), "w") as handle:
        handle.write("12abc\n")
    assert marker.read("/u") is None
