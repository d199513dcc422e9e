"""Generated container files: group filtering, node spec, passwd/group text."""
from __future__ import annotations

import pytest

from shifter_runtime.build.etcfiles import (GroupEntry, PasswdEntry, filter_group, group_text,
                                            hostsfile_text, passwd_text)
from shifter_runtime.build.spec import BuildError

pytestmark = pytest.mark.unit

GROUPS = ("root:x:0:alice\n"
          "wheel:x:10:bob,alice\n"
          "alice:x:1001:\n"
          "science:x:2000:alice\n"
          "other:x:3000:bob\n")


def test_filter_group_keeps_memberships_up_to_max():
    assert filter_group(GROUPS, "alice", 2) == (
        "wheel:x:10:alice\nalice:x:1001:alice\nscience:x:2000:\nother:x:3000:\n")


def test_filter_group_zero_max_gives_stubs_only():
    assert filter_group(GROUPS, "alice", 0) == (
        "wheel:x:10:\nalice:x:1001:\nscience:x:2000:\nother:x:3000:\n")


def test_filter_group_drops_gid_zero_comments_and_junk():
    text = "# comment\nroot:x:0:alice\nbroken\nbad:x:notanumber:alice\nok:x:5:alice\n"
    assert filter_group(text, "alice", 31) == "ok:x:5:alice\n"


def test_filter_group_does_not_leak_other_members():
    assert "bob" not in filter_group(GROUPS, "alice", 31)


def test_hostsfile_repeats_each_host_per_task():
    assert hostsfile_text("nid1/2 nid2/1") == "nid1\nnid1\nnid2\n"


@pytest.mark.parametrize("spec", ["nid1", "nid1/0", "nid1/x", "/3", "", "a b/1", "-x/1",
                                  "host;rm/1", "nid1/\u00b2", "nid1/99999999999999999999",
                                  "nid1/4194304 nid2/1"])
def test_hostsfile_bad_spec_names_the_entry(spec):
    with pytest.raises(BuildError, match="node spec"):
        hostsfile_text(spec)


def test_passwd_text_lists_each_user_once():
    alice = PasswdEntry("alice", 1001, 1001, "Alice", "/home/alice", "/bin/bash")
    bob = PasswdEntry("bob", 1002, 1002, "", "/", "/bin/sh")
    assert passwd_text([alice, bob, alice]) == (
        "alice:x:1001:1001:Alice:/home/alice:/bin/bash\nbob:x:1002:1002::/:/bin/sh\n")


def test_group_text_merges_members_by_gid():
    text = group_text([GroupEntry("a", 10, ("alice",)), GroupEntry("b", 20, ("alice",)),
                       GroupEntry("a", 10, ("bob",))])
    assert text == "a:x:10:alice,bob\nb:x:20:alice\n"
