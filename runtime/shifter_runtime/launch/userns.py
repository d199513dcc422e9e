"""Enter a new user + mount namespace that maps only the caller's ids.

The uid and gid maps are one line each, ``id id 1``: inside, the process keeps
its own uid and primary gid and has the namespace's capabilities until
``privs.drop_privileges``.  ``setgroups`` is denied, as the kernel requires
before an unprivileged gid map; the supplementary groups therefore stay exactly
as they were (access checks still use them, and they can never be dropped to
get around a group-denied permission), but only the primary gid is mapped, so
``id`` shows the others as the overflow gid, e.g. for shifteruser (also in
shiftergrp)::

    uid=1902(shifteruser) gid=1903(shifteruser) groups=1903(shifteruser),65534

Mapping them too would need a privileged helper (``newgidmap``), which this
runtime deliberately does without.
"""
from __future__ import annotations

import os

from ..kernel import libc


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_user_namespace(uid: int, gid: int) -> None:
    """unshare a user + mount namespace; map ``uid``/``gid`` 1:1; make ``/`` a slave.

    The mounts copied from the host stay slaves, so an ``unsetupRoot`` on the
    host still propagates into running containers and frees the node.
    """
    libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)
