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
    (["-N", "nid1/99999999999999999999", "id", "a"], "-N: node spec: more than 4194304 tasks"),
    (["-N", "nid1/2 nid2", "id", "a"], "-N: node spec 'nid1/2 nid2': bad entry 'nid2'"),
])
def test_bad_usage_exits_2_with_one_line(argv, message, capsys):
    """Checked before anything is built; the line ends with where usage is shown."""
    assert setuproot.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"setupRoot: {message}") and err.endswith(" (setupRoot -h: usage)\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["junk"], "unexpected argument 'junk'"), (["-x"], "option -x not recognized"),
    (["-c"], "option -c requires argument")])
def test_unsetuproot_bad_usage_is_one_line(argv, message, capsys):
    assert unsetuproot.main(argv) == 2
    assert capsys.readouterr().err == f"unsetupRoot: {message} (unsetupRoot -h: usage)\n"
