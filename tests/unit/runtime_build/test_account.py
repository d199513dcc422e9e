"""The container user: lookup from etcPath/passwd, refusal of root, -U/-G checks."""
from __future__ import annotations

import pytest

from shifter_runtime.build.account import lookup_user
from shifter_runtime.build.spec import BuildError

pytestmark = pytest.mark.unit


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "# comment\n"
        "alice:x:1001:1001:Alice A:/home/alice:/bin/bash\n"
        "broken:line\n")
    return str(tmp_path)


def test_user_from_etc_path_by_name(etc):
    user = lookup_user("alice", None, None, libc=False, etc_path=etc)
    assert (user.name, user.uid, user.gid, user.home, user.gecos) == (
        "alice", 1001, 1001, "/home/alice", "Alice A")
    assert user.gid in user.gids


def test_user_from_etc_path_by_uid(etc):
    assert lookup_user(None, 1001, None, libc=False, etc_path=etc).name == "alice"


def test_root_refused(etc):
    with pytest.raises(BuildError, match="may not be root"):
        lookup_user("root", None, None, libc=False, etc_path=etc)


def test_uid_mismatch_refused(etc):
    with pytest.raises(BuildError, match="does not match"):
        lookup_user("alice", 1002, None, libc=False, etc_path=etc)


def test_unknown_user_without_ids_refused(etc):
    with pytest.raises(BuildError, match="not found"):
        lookup_user("nobody-here", None, None, libc=False, etc_path=etc)


def test_unknown_user_with_full_ids_accepted(etc):
    user = lookup_user("ghost", 5000, 5000, libc=False, etc_path=etc)
    assert (user.name, user.uid, user.gid, user.home) == ("ghost", 5000, 5000, "/")


def test_no_user_at_all(etc):
    with pytest.raises(BuildError, match="no user given"):
        lookup_user(None, None, None, libc=False, etc_path=etc)
