"""Mount syscalls: mount(2), umount2, and the fd-based mount API."""
from __future__ import annotations

import errno
import os

from .libc import (MNT_DETACH, MS_PRIVATE, MS_SLAVE, SYS_FSCONFIG, SYS_FSMOUNT, SYS_FSOPEN,
                   SYS_MOUNT_SETATTR, SYS_MOVE_MOUNT, SYS_OPEN_TREE, enc, syscall, u64s,
                   umount2)
from . import paths

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 1
FSOPEN_CLOEXEC = 1

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8

PROPAGATION = {"private": MS_PRIVATE, "slave": MS_SLAVE}


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """``umount2(2)`` (lazy by default) of the mount on the absolute ``target``, reached
    without following any symlink: a user who can rename a directory on the path (one
    in /tmp below udiMount) cannot point root at another mount point."""
    fd = paths.openat2(AT_FDCWD, target, os.O_PATH | os.O_NOFOLLOW, paths.RESOLVE_NO_SYMLINKS)
    try:
        umount2(paths.fd_path(fd), flags)
    finally:
        os.close(fd)


def open_tree(source: str, *, rec: bool, dirfd: int = AT_FDCWD, follow: bool = True) -> int:
    """A detached clone of the mount tree at ``source`` (``OPEN_TREE_CLONE``);
    ``source=""`` clones the object ``dirfd`` itself refers to."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if rec else 0)
    flags |= (0 if follow else AT_SYMLINK_NOFOLLOW) | (0 if source else AT_EMPTY_PATH)
    return syscall(SYS_OPEN_TREE, dirfd, enc(source), flags, what="open_tree", path=source)


def mount_setattr(fd: int, attr_set: int = 0, *, rec: bool, attr_clr: int = 0,
                  propagation: int = 0, path: str | None = None) -> None:
    """Set mount attributes (and optionally propagation) on the mount ``fd`` names;
    ``path`` (what ``fd`` is) goes into the error."""
    attr = u64s(attr_set, attr_clr, propagation, 0)  # struct mount_attr (userns_fd 0)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if rec else 0)
    syscall(SYS_MOUNT_SETATTR, fd, b"", flags, attr, len(attr), what="mount_setattr",
            path=path)


def move_mount(from_fd: int, to_fd: int) -> None:
    """Attach the detached mount ``from_fd`` onto the directory/file ``to_fd``."""
    syscall(SYS_MOVE_MOUNT, from_fd, b"", to_fd, b"",
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH, what="move_mount")


def new_fs(fstype: str, options: dict[str, str | None], attrs: int) -> int:
    """A detached mount of a fresh ``fstype`` filesystem (fsopen/fsconfig/fsmount);
    an option whose value is ``None`` is a flag (e.g. ``ro``)."""
    fsfd = syscall(SYS_FSOPEN, enc(fstype), FSOPEN_CLOEXEC, what="fsopen", path=fstype)
    try:
        for key, value in options.items():
            cmd = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
            syscall(SYS_FSCONFIG, fsfd, cmd, enc(key), enc(value), 0,
                    what=f"fsconfig {key}", path=fstype)
        syscall(SYS_FSCONFIG, fsfd, FSCONFIG_CMD_CREATE, None, None, 0,
                what="fsconfig create", path=fstype)
        return syscall(SYS_FSMOUNT, fsfd, FSMOUNT_CLOEXEC, attrs, what="fsmount", path=fstype)
    finally:
        os.close(fsfd)


def attach(tree_fd: int, target_fd: int, propagation: str | None, *, rec: bool) -> None:
    """Attach a prepared detached tree, then set its propagation (private default)."""
    move_mount(tree_fd, target_fd)
    mount_setattr(tree_fd, rec=rec, propagation=PROPAGATION[propagation or "private"])


def bind(source: str, target_fd: int, *, rec: bool = False, ro: bool = False,
         nodev: bool = True, propagation: str | None = None, source_dirfd: int = AT_FDCWD,
         follow: bool = True) -> None:
    """Bind ``source`` onto ``target_fd``: nosuid always, nodev unless told, ro if asked.

    The flags are set on the detached clone before it is attached, so the mount is
    never visible without them.
    """
    tree = open_tree(source, rec=rec, dirfd=source_dirfd, follow=follow)
    try:
        attrs = MOUNT_ATTR_NOSUID | (MOUNT_ATTR_NODEV if nodev else 0)
        attrs |= MOUNT_ATTR_RDONLY if ro else 0
        mount_setattr(tree, attrs, rec=rec)
        attach(tree, target_fd, propagation, rec=rec)
    finally:
        os.close(tree)


def mount_new(fstype: str, target_fd: int, attrs: int,
              options: dict[str, str | None] | None = None) -> None:
    """Mount a fresh ``fstype`` (e.g. proc) on ``target_fd`` with mount ``attrs``."""
    tree = new_fs(fstype, options or {}, attrs)
    try:
        attach(tree, target_fd, "private", rec=False)
    finally:
        os.close(tree)


def _mountinfo_under(base: str, mountinfo: str):
    """(fields, mount point) of each mountinfo line at or below ``base`` (whole path
    components), oldest first."""
    base = base.rstrip("/") or "/"
    with open(mountinfo, "rb") as fh:
        for line in fh:
            fields = line.decode().split(" ")
            point = _unescape(fields[4])
            if point == base or point.startswith(base + "/") or base == "/":
                yield fields, point


def mount_entries(base: str, mountinfo: str = "/proc/self/mountinfo"
                  ) -> list[tuple[str, str]]:
    """(mount point, source) of mounts at or below ``base`` (whole path components),
    newest first."""
    found = []
    for fields, point in _mountinfo_under(base, mountinfo):
        tail = fields[fields.index("-") + 1:]
        found.append((point, _unescape(tail[1]) if len(tail) > 1 else ""))
    found.reverse()
    return found


def mount_ids_under(base: str, mountinfo: str = "/proc/self/mountinfo") -> set[int]:
    """Mount IDs of the mounts at or below ``base`` (whole path components)."""
    return {int(fields[0]) for fields, _ in _mountinfo_under(base, mountinfo)}


def mount_id(fd: int) -> int:
    """The ID (as in mountinfo) of the mount the open descriptor ``fd`` lies on."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as fh:
        for line in fh:
            if line.startswith(b"mnt_id:"):
                return int(line.split()[1])
    raise OSError(errno.ENOTSUP, "no mnt_id in /proc/self/fdinfo")


def mounts_under(base: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``base`` (whole path components), newest first."""
    return [point for point, _ in mount_entries(base, mountinfo)]


def _unescape(field: str) -> str:
    """Undo the octal escapes of /proc/*/mountinfo (space, tab, newline, backslash)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
