"""Merge the image into the container root (upstream ``bindImageIntoUDI``).

Entries already present in the root (site content) win. In bind mode symlinks and
small files are copied, directories and large files bind-mounted read-only; in copy
mode (``/etc``) everything is copied. Image paths are opened with ``O_NOFOLLOW``
inside the image root, so an image symlink cannot lead the merge onto the host.
"""
from __future__ import annotations

import os

from ..kernel import creds, mounts, paths
from .rootfs import RootFs, copy_entry
from .spec import UserInfo

FILE_SIZE_LIMIT = 5 * 1024 * 1024
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:.+-")


def merge_image(root: RootFs, image_root: str, subdir: str, *, copy: bool,
                as_user: UserInfo | None = None) -> None:
    """Bring the entries of the image's ``subdir`` into the root's ``subdir``; with
    ``as_user`` (a local image) ``subdir`` is opened with the user's rights, since its
    entries land in the container's own directory and lose its protection."""
    img = paths.open_root(image_root)
    try:
        try:
            src = _open_subdir(img, subdir, as_user)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return  # the image has no such directory (or it is a symlink): nothing to merge
    finally:
        os.close(img)
    dst = root.open(subdir, os.O_RDONLY | os.O_DIRECTORY, follow=False)
    try:
        with os.scandir(src) as entries:
            for entry in entries:
                if not set(entry.name) <= _NAME_CHARS or _present(dst, entry.name):
                    continue
                if copy or entry.is_symlink():
                    copy_entry(src, entry, dst)
                elif entry.is_dir(follow_symlinks=False):
                    os.mkdir(entry.name, 0o755, dir_fd=dst)
                    _bind_entry(src, dst, entry.name)
                elif entry.is_file(follow_symlinks=False):
                    if entry.stat(follow_symlinks=False).st_size < FILE_SIZE_LIMIT:
                        copy_entry(src, entry, dst)
                    else:
                        os.close(os.open(entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dst))
                        _bind_entry(src, dst, entry.name)
    finally:
        os.close(src)
        os.close(dst)


def _open_subdir(img: int, subdir: str, as_user: UserInfo | None) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY
    if as_user is None:
        return paths.open_in_root(img, subdir, flags, follow=False)
    with creds.fs_identity(as_user.uid, as_user.gid, as_user.gids or [as_user.gid]):
        return paths.open_in_root(img, subdir, flags, follow=False)


def _present(dirfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _bind_entry(src_dirfd: int, dst_dirfd: int, name: str) -> None:
    target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_dirfd)
    try:
        mounts.bind(name, target, source_dirfd=src_dirfd, follow=False, ro=True)
    finally:
        os.close(target)
