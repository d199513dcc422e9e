"""Make the image visible read-only: a loop-mounted file, or a local directory in place."""
from __future__ import annotations

import os

from ..kernel import loop, mounts
from .spec import BuildError, ImageSource

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


def mount_image(image: ImageSource, target: str) -> str:
    """The image's root directory: a local (``VFS``) image is used where it is; a file
    image is attached to an autoclear, read-only loop device and mounted read-only,
    nosuid, nodev on ``target`` (private propagation)."""
    if image.format == "VFS":
        if not os.path.isdir(image.path):
            raise BuildError(f"image {image.path}: local image is not a directory")
        return image.path
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
