"""ctypes access to libc and raw syscalls (x86_64 numbers), raising OSError."""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

SYS_CAPGET = 125
SYS_CAPSET = 126
SYS_PIVOT_ROOT = 155
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442


def _raise(what: str, path: str | None = None) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}", path)


def check(ret: int, what: str, path: str | None = None) -> int:
    """Return ``ret`` or raise ``OSError`` from errno when it is negative."""
    if ret < 0:
        _raise(what, path)
    return ret


def syscall(nr: int, *args, what: str, path: str | None = None) -> int:
    """Run a raw syscall; raise ``OSError`` naming ``what`` on failure."""
    return check(_syscall(ctypes.c_long(nr), *args), what, path)


def enc(path: str | None) -> bytes | None:
    """Encode a path for C, leaving ``None`` alone."""
    return None if path is None else os.fsencode(path)


libc = _libc
