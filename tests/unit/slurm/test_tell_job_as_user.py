"""prolog.tell_job writes the job's error file as the job's user, never as root (audit gap 14).

The error file's path is the user's to choose (``sbatch -e``), so a root-owned
0600 file, named directly or through a symlink in the user's own directory,
must come out unchanged.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from shifter_slurm.prolog import tell_job
from shifter_slurm.slurmquery import JobInfo

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root to write as another user")]

SECRET = "root only\n"


@pytest.fixture
def user(test_users):
    return test_users[0]


@pytest.fixture
def dirs(user):
    """A root dir everyone may enter, holding a root 0600 file and the user's own dir."""
    base = Path(tempfile.mkdtemp(prefix="shifter-telljob-"))
    base.chmod(0o755)
    secret = base / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    mine = base / "mine"
    mine.mkdir()
    os.chown(mine, user.uid, user.gid)
    yield secret, mine
    shutil.rmtree(base)


def tell(path: Path, user) -> None:
    tell_job(JobInfo(7, ("n1",), 1, True, str(path)), user.uid, user.gid, "shifter: prolog on n1: boom")


def test_the_users_own_error_file_gets_the_note(dirs, user):
    _, mine = dirs
    err = mine / "slurm-7.err"
    tell(err, user)
    assert err.read_text() == "shifter: prolog on n1: boom\n"
    assert (err.stat().st_uid, err.stat().st_gid) == (user.uid, user.gid)


def test_a_root_only_file_is_not_written(dirs, user):
    secret, _ = dirs
    tell(secret, user)
    assert secret.read_text() == SECRET


def test_a_symlink_to_a_root_only_file_is_not_written_through(dirs, user):
    secret, mine = dirs
    link = mine / "slurm-7.err"
    link.symlink_to(secret)
    os.lchown(link, user.uid, user.gid)
    tell(link, user)
    assert secret.read_text() == SECRET
