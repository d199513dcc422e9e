"""Make a directory the root of the current mount namespace.

``pivot_root(".", ".")`` then a lazy unmount of ``.`` drops the host root
without needing a ``put_old`` directory in a read-only image; nothing of the
host file system stays reachable from the namespace.
"""
from __future__ import annotations

import os

from ..kernel import libc


def bind_self(path: str) -> None:
    """Recursively bind ``path`` onto itself so it is a mount we own (pivot_root needs one)."""
    libc.mount(path, path, None, libc.MS_BIND | libc.MS_REC)


def pivot_into(path: str) -> None:
    """Switch the namespace root to the mount at ``path``; cwd becomes ``/``."""
    os.chdir(path)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")
