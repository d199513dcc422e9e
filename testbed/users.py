"""Unprivileged test users (idempotent).

``shifteruser`` and ``shifteruser2``: homes under /home, shell /bin/sh, each with
its own primary group; the shared group ``shiftergrp`` has only ``shifteruser``.
"""
from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from testbed.procs import run

USERS = ("shifteruser", "shifteruser2")
SHARED_GROUP = "shiftergrp"
SHARED_MEMBERS = ("shifteruser",)


@dataclass(frozen=True)
class User:
    """An unprivileged test user."""

    name: str
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...]  # all gids, primary first


def _ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        run(["groupadd", name])


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "-m", "-d", f"/home/{name}", "-s", "/bin/sh", "-U", name])


def lookup(name: str) -> User:
    """The record of an existing user."""
    pw = pwd.getpwnam(name)
    extra = sorted(g.gr_gid for g in grp.getgrall() if name in g.gr_mem and g.gr_gid != pw.pw_gid)
    return User(name, pw.pw_uid, pw.pw_gid, pw.pw_dir, (pw.pw_gid, *extra))


def ensure_users() -> list[User]:
    """Create the test users and the shared group if missing; return their records."""
    _ensure_group(SHARED_GROUP)
    for name in USERS:
        _ensure_user(name)
        os.chmod(f"/home/{name}", 0o755)
    members = set(grp.getgrnam(SHARED_GROUP).gr_mem)
    if members != set(SHARED_MEMBERS):
        run(["gpasswd", "-M", ",".join(SHARED_MEMBERS), SHARED_GROUP])
    return [lookup(name) for name in USERS]


def enable_fuse() -> None:
    """Let unprivileged users open /dev/fuse (no udev here).

    Site prerequisite: a real site's udev rule gives /dev/fuse mode 0666.
    """
    Path("/dev/fuse").chmod(0o666)
