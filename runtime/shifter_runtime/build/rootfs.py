"""File operations on a container root, every path resolved inside it (openat2)."""
from __future__ import annotations

import os
import stat
from typing import Optional

from ..kernel import mounts, paths

COPY_CHUNK = 1 << 20


class RootFs:
    """The container root at ``host_path``; container paths never resolve outside it."""

    def __init__(self, host_path: str) -> None:
        self.host_path = host_path.rstrip("/") or "/"
        self.fd = paths.open_root(self.host_path)
        self.dev = os.fstat(self.fd).st_dev

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def open(self, path: str, flags: int = os.O_PATH, *, follow: bool = True) -> int:
        """A descriptor of container ``path`` (symlinks resolved inside the root)."""
        return paths.open_in_root(self.fd, path, flags, follow=follow)

    def parent(self, path: str) -> tuple[int, str]:
        """(descriptor of the parent directory, final name) of container ``path``."""
        head, name = paths.split_parent(path)
        return self.open(head, os.O_PATH | os.O_DIRECTORY), name

    def lexists(self, path: str) -> bool:
        try:
            fd = self.open(path, follow=False)
        except FileNotFoundError:
            return False
        os.close(fd)
        return True

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Create a directory (exact ``mode``); an existing directory is fine."""
        pfd, name = self.parent(path)
        try:
            try:
                os.mkdir(name, mode, dir_fd=pfd)
            except FileExistsError:
                if not stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                    raise
                return
            os.chmod(name, mode, dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)

    def write(self, path: str, data: bytes, mode: int = 0o644,
              owner: tuple[int, int] = (0, 0)) -> None:
        """Create a new file (it must not exist) with ``data``, ``mode`` and ``owner``."""
        pfd, name = self.parent(path)
        try:
            write_new(pfd, name, data, mode, owner)
        finally:
            os.close(pfd)

    def read(self, path: str) -> bytes:
        fd = self.open(path, os.O_RDONLY)
        try:
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return fh.read()
        finally:
            os.close(fd)

    def symlink(self, target: str, path: str) -> None:
        pfd, name = self.parent(path)
        try:
            os.symlink(target, name, dir_fd=pfd)
        finally:
            os.close(pfd)

    def rename(self, old: str, new: str) -> None:
        opfd, oname = self.parent(old)
        npfd, nname = self.parent(new)
        try:
            os.rename(oname, nname, src_dir_fd=opfd, dst_dir_fd=npfd)
        finally:
            os.close(opfd)
            os.close(npfd)

    def relpath(self, fd: int) -> Optional[str]:
        """The container path of an open descriptor (``None`` if outside the root)."""
        real = os.readlink(paths.fd_path(fd))
        if real == self.host_path:
            return "/"
        if self.host_path == "/":
            return real
        if real.startswith(self.host_path + "/"):
            return real[len(self.host_path):]
        return None

    def bind(self, source: str, target: str, **flags) -> None:
        """Bind host ``source`` on container ``target`` (see ``kernel.mounts.bind``)."""
        tfd = self.open(target)
        try:
            mounts.bind(source, tfd, **flags)
        finally:
            os.close(tfd)


def write_new(dirfd: int, name: str, data: bytes, mode: int,
              owner: tuple[int, int] = (0, 0)) -> None:
    """Create ``name`` in ``dirfd`` (it must not exist; a symlink is never followed) with
    ``data``, then set ``owner`` and ``mode``."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode, dir_fd=dirfd)
    try:
        os.write(fd, data)
        os.fchown(fd, *owner)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def copy_file(src_dirfd: int, name: str, dst_dirfd: int, dst_name: str) -> None:
    """``cp -p`` of one regular file, without following symlinks and with the setuid,
    setgid bits dropped (the container tmpfs is nosuid anyway)."""
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dirfd)
    try:
        st = os.fstat(src)
        mode = stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID)
        dst = os.open(dst_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600, dir_fd=dst_dirfd)
        try:
            while os.sendfile(dst, src, None, COPY_CHUNK) > 0:
                pass
            os.fchown(dst, st.st_uid, st.st_gid)
            os.fchmod(dst, mode)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(dst)
    finally:
        os.close(src)


def copy_tree(src_dirfd: int, dst_dirfd: int, *, skip_existing: bool = False) -> None:
    """``cp -rp`` of the entries of ``src_dirfd`` into ``dst_dirfd``: directories,
    regular files and symlinks; device nodes, fifos and sockets are skipped."""
    with os.scandir(src_dirfd) as entries:
        for entry in entries:
            if skip_existing and _lexists(dst_dirfd, entry.name):
                continue
            copy_entry(src_dirfd, entry, dst_dirfd)


def copy_entry(src_dirfd: int, entry: os.DirEntry, dst_dirfd: int) -> None:
    """Copy one directory entry (recursively for directories)."""
    name = entry.name
    if entry.is_symlink():
        os.symlink(os.readlink(name, dir_fd=src_dirfd), name, dir_fd=dst_dirfd)
        st = entry.stat(follow_symlinks=False)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_dirfd, follow_symlinks=False)
    elif entry.is_file(follow_symlinks=False):
        copy_file(src_dirfd, name, dst_dirfd, name)
    elif entry.is_dir(follow_symlinks=False):
        st = entry.stat(follow_symlinks=False)
        os.mkdir(name, 0o700, dir_fd=dst_dirfd)
        sub_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=src_dirfd)
        sub_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=dst_dirfd)
        try:
            copy_tree(sub_src, sub_dst)
            os.fchown(sub_dst, st.st_uid, st.st_gid)
            os.fchmod(sub_dst, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
        finally:
            os.close(sub_src)
            os.close(sub_dst)


def _lexists(dirfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def make_readable(dirfd: int) -> None:
    """``chmod -R a+rX`` below ``dirfd`` (symlinks untouched)."""
    with os.scandir(dirfd) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue
            mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.name, mode | 0o555, dir_fd=dirfd)
                sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                              | os.O_CLOEXEC, dir_fd=dirfd)
                try:
                    make_readable(sub)
                finally:
                    os.close(sub)
            elif entry.is_file(follow_symlinks=False):
                extra = 0o444 | (0o111 if mode & 0o111 else 0)
                os.chmod(entry.name, mode | extra, dir_fd=dirfd)
