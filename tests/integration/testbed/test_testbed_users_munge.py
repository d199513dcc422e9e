"""The test users exist as specified and munged answers for root and users."""
from __future__ import annotations

import grp
import os
import pwd
import subprocess

import pytest

pytestmark = pytest.mark.integration


def test_users_exist_with_home_and_shell(test_users):
    names = [u.name for u in test_users]
    assert names == ["shifteruser", "shifteruser2"]
    for user in test_users:
        pw = pwd.getpwnam(user.name)
        assert (pw.pw_uid, pw.pw_gid, pw.pw_dir, pw.pw_shell) == (user.uid, user.gid, f"/home/{user.name}", "/bin/sh")
        assert user.uid != 0 and os.path.isdir(user.home)
        assert os.stat(user.home).st_uid == user.uid


def test_shared_group_has_only_shifteruser(test_users):
    shared = grp.getgrnam("shiftergrp")
    assert shared.gr_mem == ["shifteruser"]
    first, second = test_users
    assert shared.gr_gid in first.groups and shared.gr_gid not in second.groups
    assert first.groups[0] == first.gid


def test_users_are_idempotent(test_users):
    from testbed.users import ensure_users
    assert ensure_users() == test_users


def test_munge_roundtrip_as_root(munge):
    enc = subprocess.run(["munge", "-n", "-S", str(munge)], capture_output=True, check=True)
    dec = subprocess.run(["unmunge", "-S", str(munge)], input=enc.stdout, capture_output=True, check=True)
    assert b"STATUS:          Success (0)" in dec.stdout
    assert b"UID:             root (0)" in dec.stdout


def test_munge_credential_of_user_decodes_as_that_user(munge, test_users):
    user = test_users[0]
    enc = subprocess.run(["runuser", "-u", user.name, "--", "munge", "-n"], capture_output=True, check=True)
    dec = subprocess.run(["unmunge"], input=enc.stdout, capture_output=True, check=True)
    assert f"UID:             {user.name} ({user.uid})".encode() in dec.stdout


def test_dev_fuse_is_usable_by_users(munge):
    assert os.stat("/dev/fuse").st_mode & 0o666 == 0o666
