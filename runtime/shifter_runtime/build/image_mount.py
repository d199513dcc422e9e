"""Make the image visible read-only: a loop-mounted file, or a local directory in place."""
from __future__ import annotations

import os

from ..errors import local_image_message
from ..kernel import creds, loop, mounts
from .spec import BuildError, ImageSource, UserInfo

LOOP_FORMATS = {"squashfs": "squashfs", "xfs": "xfs"}


def make_mount_point(path: str, key: str) -> None:
    """Create the ``udiMount``/``loopMount`` directory ``path`` (named by ``key``) if it
    is missing; anything else at that name is a one-line BuildError."""
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except FileExistsError:
        raise BuildError(f"{key} {path}: exists and is not a directory") from None
    except OSError as exc:
        raise BuildError(f"{key} {path}: cannot create the directory: "
                         f"{exc.strerror}") from None


def open_local_image(image: ImageSource, user: UserInfo) -> int:
    """A local (``VFS``) image's directory, opened with the user's rights: root builds
    the container but never lends its own to reach a directory the user cannot (one
    below a 0700 parent, say).  The build then reads it through this descriptor."""
    try:
        with creds.fs_identity(user.uid, user.gid, user.gids or [user.gid]):
            return os.open(image.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BuildError(local_image_message(f"local:{image.path}", user.name, exc)) from None


def mount_image(image: ImageSource, target: str) -> str:
    """Attach a file image to an autoclear, read-only loop device and mount it read-only,
    nosuid, nodev on ``target`` (private propagation); returns ``target``."""
    if image.format not in LOOP_FORMATS:
        raise BuildError(f"image {image.identifier}: unknown image format {image.format!r}")
    make_mount_point(target, "loopMount")
    try:
        device = loop.attach_loop(image.path, read_only=True)
    except OSError as exc:
        raise BuildError(f"image {image.path}: cannot attach a loop device: "
                         f"{exc.strerror}") from None
    try:
        tfd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            attrs = mounts.MOUNT_ATTR_RDONLY | mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV
            mounts.mount_new(LOOP_FORMATS[image.format], tfd, attrs,
                             {"source": device.path, "ro": None})
        finally:
            os.close(tfd)
    except OSError as exc:
        raise BuildError(f"image {image.path}: cannot mount {image.format} on {target}: "
                         f"{exc.strerror}") from None
    finally:
        device.close()
    return target
