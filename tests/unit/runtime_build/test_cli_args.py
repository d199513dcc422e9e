"""setupRoot / unsetupRoot command lines (upstream getopt semantics)."""
from __future__ import annotations

import pytest

from shifter_runtime.cli import setuproot, unsetuproot

pytestmark = pytest.mark.unit


def test_all_options():
    args = setuproot.parse_args(["-V", "-v", "/a:/b", "-v", "/c:/d:ro", "-s", "ssh-rsa K",
                                 "-u", "alice", "-U", "1001", "-G", "1002", "-N", "n1/2",
                                 "-m", "mpi,gpu", "id", "abc123"])
    assert (args.image_type, args.image_id, args.verbose) == ("id", "abc123", True)
    assert args.volumes == ["/a:/b", "/c:/d:ro"]
    assert (args.user, args.uid, args.gid) == ("alice", 1001, 1002)
    assert (args.nodespec, args.modules, args.ssh_pubkey) == ("n1/2", "mpi,gpu", "ssh-rsa K")


@pytest.mark.parametrize("argv, message", [
    (["id"], "expected <imageType> <imageIdentifier>"),
    (["-U", "x", "id", "a"], "-U x: not a number"),
    (["-Q", "id", "a"], "option -Q not recognized"),
    (["id", "a", "extra"], "expected <imageType>"),
])
def test_bad_usage_exits_2_with_one_message(argv, message, capsys):
    assert setuproot.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("setupRoot: ")


def test_unsetuproot_rejects_operands(capsys):
    assert unsetuproot.main(["junk"]) == 2
    assert "usage: unsetupRoot" in capsys.readouterr().err
