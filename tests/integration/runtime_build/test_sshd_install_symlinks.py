"""sshd.install (root, in the prolog) never writes through a symlink in the container tree.

The tree is a fake container: opt/udiImage, opt/udiImage/ssh or opt itself is a
symlink to a victim directory outside it.  The install must fail with one line
naming the path and leave the victim empty.
"""
import os
import shutil
from pathlib import Path

import pytest

from shifter_slurm import sshd
from shifter_slurm.errors import ShifterSlurmError

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="sshd.install runs as root")]

ACCOUNT = sshd.Account("someone", 4242, 4242, (4242,))


@pytest.fixture
def tree(tmp_path):
    """(udi, victim): a container root with opt/udiImage, and an empty directory outside it."""
    udi, victim = tmp_path / "udi", tmp_path / "victim"
    (udi / "opt" / "udiImage").mkdir(parents=True)
    victim.mkdir()
    return udi, victim


def replace_with_link(path: Path, target: Path) -> None:
    shutil.rmtree(path)
    path.symlink_to(target)


def test_install_writes_the_bundle_in_a_plain_tree(tree):
    udi, _ = tree
    loader = sshd.install(str(udi), ACCOUNT, "ssh-ed25519 AAAA test")
    base = udi / sshd.SSH_DIR.lstrip("/")
    assert (base / "lib" / loader).is_file()
    assert (base / "etc" / "user_auth_keys").read_text() == "ssh-ed25519 AAAA test\n"
    assert (base / "run").stat().st_uid == ACCOUNT.uid
    assert base.stat().st_uid == 0


@pytest.mark.parametrize("link", ["opt", "opt/udiImage"])
def test_symlinked_directory_on_the_way_is_refused(tree, link):
    udi, victim = tree
    (victim / "udiImage").mkdir()  # so that following "opt" would succeed
    replace_with_link(udi / link, victim)
    with pytest.raises(ShifterSlurmError) as err:
        sshd.install(str(udi), ACCOUNT, "ssh-ed25519 AAAA test")
    assert_one_line_naming(str(err.value), udi, link.rpartition("/")[2])
    assert [p.name for p in victim.rglob("*")] == ["udiImage"]


def test_existing_ssh_symlink_is_refused(tree):
    udi, victim = tree
    (udi / "opt" / "udiImage" / "ssh").symlink_to(victim)
    with pytest.raises(ShifterSlurmError) as err:
        sshd.install(str(udi), ACCOUNT, "ssh-ed25519 AAAA test")
    assert_one_line_naming(str(err.value), udi, "ssh")
    assert list(victim.iterdir()) == []


def assert_one_line_naming(message: str, udi: Path, name: str) -> None:
    assert "\n" not in message
    assert message.startswith(f"cannot create {udi}{sshd.SSH_DIR}: {name}: "), message
