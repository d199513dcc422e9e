"""Raw system calls straight from the C library (x86_64 numbers), raising OSError.

Built on ``_ctypes``, the C half of ctypes: importing the ``ctypes`` package
costs about 3 ms (it defines every C type and checks sizes), more than a whole
prepared launch spends in our own code, and every further C type or function
pointer costs time at import too.  So there is one: ``syscall(2)``, which
takes ints (libffi widens them to the 64-bit argument registers), ``bytes`` (a
pointer to the buffer: structures are packed by the caller) and ``None``
(NULL), and returns a long.  Every wrapper raises ``OSError`` with the errno
and the path it acted on, so callers can print one line naming what failed.
"""
import _ctypes
import posix  # not os: importing os costs about 1 ms on the launch path
import sys

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
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

SYS_CAPSET = 126
SYS_PIVOT_ROOT = 155
SYS_PRCTL = 157
SYS_MOUNT = 165
SYS_UMOUNT2 = 166
SYS_UNSHARE = 272
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Long(_ctypes._SimpleCData):
    _type_ = "l"


class _Syscall(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Long


class _Library:
    _handle = _ctypes.dlopen(None, posix.RTLD_NOW)


_syscall = _Syscall(("syscall", _Library()))


def check(result: int, what: str, path: str | None = None) -> int:
    """Return ``result`` or raise ``OSError`` from errno when it is negative."""
    if result < 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {posix.strerror(err)}", path)
    return result


def enc(text: str | bytes | None) -> bytes | None:
    """Encode a path (or path-like) for C like ``os.fsencode``, leaving ``None`` alone."""
    if text is None:
        return None
    text = posix.fspath(text)
    if isinstance(text, bytes):
        return text
    return text.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def syscall(nr: int, *args: int | bytes | None, what: str, path: str | None = None) -> int:
    """Run a raw syscall; raise ``OSError`` naming ``what`` (and ``path``) on failure."""
    return check(_syscall(nr, *args), what, path)


def unshare(flags: int) -> None:
    """unshare(2)."""
    syscall(SYS_UNSHARE, flags, what="unshare")


def mount(source: str | None, target: str, fstype: str | None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2); errors name the target."""
    syscall(SYS_MOUNT, enc(source), enc(target), enc(fstype), flags, enc(data),
            what=f"mount {fstype or 'bind'}", path=target)


def umount2(target: str, flags: int) -> None:
    """umount2(2)."""
    syscall(SYS_UMOUNT2, enc(target), flags, what="umount", path=target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    syscall(SYS_PIVOT_ROOT, enc(new_root), enc(put_old), what="pivot_root", path=new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    """prctl(2) with up to two arguments."""
    return syscall(SYS_PRCTL, option, arg2, arg3, 0, 0, what=f"prctl {option}")


def capset_zero() -> None:
    """Clear the effective, permitted and inheritable capability sets."""
    capset(0, 0)


def capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    """Set this process's capability sets (64-bit masks, ``capset(2)`` version 3)."""
    header = _LINUX_CAPABILITY_VERSION_3.to_bytes(4, "little") + bytes(4)  # version, pid 0
    # two {effective, permitted, inheritable} u32 triples, low bits first
    data = b"".join((v >> shift & 0xFFFFFFFF).to_bytes(4, "little")
                    for shift in (0, 32) for v in (effective, permitted, inheritable))
    syscall(SYS_CAPSET, header, data, what="capset")


def u64s(*values: int) -> bytes:
    """Pack a structure of ``__u64`` fields (little-endian, as on x86_64)."""
    return b"".join(v.to_bytes(8, "little") for v in values)
