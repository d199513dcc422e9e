"""Credentials and namespaces: unshare, setns, pivot_root, prctl, capabilities."""
from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from typing import Iterator, Sequence

from .libc import SYS_CAPSET, SYS_PIVOT_ROOT, check, enc, libc, syscall

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def unshare(flags: int) -> None:
    """``unshare(2)``."""
    check(libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """``setns(2)``."""
    check(libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)``."""
    syscall(SYS_PIVOT_ROOT, enc(new_root), enc(put_old), what="pivot_root", path=new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    """``prctl(2)`` with up to two arguments."""
    return check(libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                            ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        return int(fh.read())


def drop_privileges(uid: int, gid: int, groups: Sequence[int]) -> None:
    """Become ``uid``/``gid`` with ``groups``, with every capability set empty and
    no_new_privs set (bounding set dropped first, while still privileged)."""
    for cap in range(last_cap() + 1):
        prctl(PR_CAPBSET_DROP, cap)
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    clear_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (``capset``)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    syscall(SYS_CAPSET, ctypes.byref(header), data, what="capset")


@contextmanager
def fs_identity(uid: int, gid: int, groups: Sequence[int]) -> Iterator[None]:
    """Act on files as the user (euid/egid/groups), restoring root afterwards.

    Only for single-threaded processes: Python's ``seteuid`` changes this thread only.
    """
    saved_groups = os.getgroups()
    os.setegid(gid)
    os.setgroups(list(groups) or [gid])
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(saved_groups)
