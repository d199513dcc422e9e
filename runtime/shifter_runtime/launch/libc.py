"""Raw system calls the launch needs, straight from the C library.

Built on ``_ctypes``, the C half of ctypes: importing the ``ctypes`` package
costs 2.5 ms of CPU (it defines every C type and checks sizes) on a launch
whose whole budget is a few ms; the four calls here need one integer type,
one unsigned long and ``char *``.  Every wrapper raises ``OSError`` with the
errno and the path it acted on, so callers can print one line naming what
failed.
"""
from __future__ import annotations

import _ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPSET = 126      # x86_64
_LINUX_CAPABILITY_VERSION_3 = 0x20080522



class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"


class _CharP(_ctypes._SimpleCData):
    _type_ = "z"


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Library:
    _handle = _ctypes.dlopen(None, os.RTLD_NOW)


def _function(name: str, *argtypes: type) -> _Function:
    function = _Function((name, _Library()))
    if argtypes:
        function.argtypes = argtypes
    return function


_unshare = _function("unshare", _Int)
_mount = _function("mount", _CharP, _CharP, _CharP, _ULong, _CharP)
_umount2 = _function("umount2", _CharP, _Int)
_prctl = _function("prctl", _Int, _ULong, _ULong, _ULong, _ULong)
_syscall = _function("syscall")


def _check(result: int, what: str, path: str | None = None) -> None:
    if result != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    """unshare(2)."""
    _check(_unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2); errors name the target."""
    _check(_mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {fstype or 'bind'}", target)


def umount2(target: str, flags: int) -> None:
    """umount2(2)."""
    _check(_umount2(_b(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    _check(_syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)),
           "pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    """prctl(2) with up to two arguments."""
    _check(_prctl(option, arg2, arg3, 0, 0), f"prctl {option}")


def capset_zero() -> None:
    """Clear the effective, permitted and inheritable capability sets."""
    header = _LINUX_CAPABILITY_VERSION_3.to_bytes(4, "little") + bytes(4)  # version, pid 0
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all 0
    _check(_syscall(_SYS_CAPSET, header, data), "capset")

