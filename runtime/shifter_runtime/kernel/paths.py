"""Resolve paths inside a container root without ever leaving it (openat2)."""
from __future__ import annotations

import os

from .libc import SYS_OPENAT2, enc, syscall, u64s

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """``openat2(2)``; returns a new file descriptor."""
    how = u64s(flags | os.O_CLOEXEC, mode, resolve)  # struct open_how
    return syscall(SYS_OPENAT2, dirfd, enc(path), how, len(how), what="openat2", path=path)


def open_root(path: str) -> int:
    """An ``O_PATH`` descriptor of a directory used as a resolution root."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH, *,
                 follow: bool = True, mode: int = 0) -> int:
    """Open ``path`` as if ``rootfd`` were ``/``: symlinks and ``..`` stay inside."""
    if not follow:
        flags |= os.O_NOFOLLOW
    rel = path.lstrip("/") or "."
    return openat2(rootfd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, mode)


def fd_path(fd: int) -> str:
    """The ``/proc/self/fd`` path of a descriptor (for calls that need a path)."""
    return f"/proc/self/fd/{fd}"


def split_parent(path: str) -> tuple[str, str]:
    """``/a/b/c`` -> (``/a/b``, ``c``); the root has no name."""
    path = "/" + path.strip("/")
    head, _, name = path.rpartition("/")
    return head or "/", name
