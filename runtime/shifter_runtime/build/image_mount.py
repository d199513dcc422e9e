"""Image-mount strategies: loop device (root) or a squashfuse_ll child (user namespace)."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from ..kernel import creds, loop, mounts
from .spec import BuildError, ImageSource

if TYPE_CHECKING:
    import subprocess

LOOP_FORMATS = {"squashfs": "squashfs", "xfs": "xfs"}
FUSE_WAIT_S = 5.0


@dataclass
class MountedImage:
    """An image visible read-only at ``path``; ``release`` unmounts it."""

    path: str
    mounted: bool = False
    child: Optional[subprocess.Popen] = field(default=None, repr=False)

    def release(self) -> None:
        if self.mounted:
            try:
                mounts.umount(self.path)
            except OSError:
                pass
            self.mounted = False
        if self.child is not None:
            if self.child.poll() is None:
                self.child.terminate()
            self.child.wait()
            self.child = None


def _prepare(image: ImageSource, target: str) -> Optional[MountedImage]:
    """Local (``VFS``) images are used in place; file images need a mount point."""
    if image.format == "VFS":
        if not os.path.isdir(image.path):
            raise BuildError(f"image {image.path}: local image is not a directory")
        return MountedImage(image.path)
    if image.format not in LOOP_FORMATS:
        raise BuildError(f"image {image.identifier}: unknown image format {image.format!r}")
    os.makedirs(target, mode=0o755, exist_ok=True)
    return None


class LoopImageMount:
    """Root: attach the image file to an autoclear, read-only loop device and mount it
    read-only, nosuid, nodev on ``target`` (private propagation)."""

    def mount(self, image: ImageSource, target: str) -> MountedImage:
        done = _prepare(image, target)
        if done is not None:
            return done
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
        return MountedImage(target, mounted=True)


class SquashfuseImageMount:
    """User namespace: serve the image with ``squashfuse_ll -f`` as a child that dies
    with us (PR_SET_PDEATHSIG); fuse mounts are nosuid,nodev for unprivileged users."""

    def __init__(self, binary: str = "/usr/bin/squashfuse_ll") -> None:
        self.binary = binary

    def mount(self, image: ImageSource, target: str) -> MountedImage:
        done = _prepare(image, target)
        if done is not None:
            return done
        if image.format != "squashfs":
            raise BuildError(f"image {image.identifier}: only squashfs images can be "
                             f"mounted without root (format {image.format})")
        import subprocess
        before = os.stat(target).st_dev
        child = subprocess.Popen(
            [self.binary, "-f", "-o", "ro,nosuid,nodev", image.path, target],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=lambda: creds.prctl(creds.PR_SET_PDEATHSIG, signal.SIGKILL))
        handle = MountedImage(target, child=child)
        deadline = time.monotonic() + FUSE_WAIT_S
        while os.stat(target).st_dev == before:
            if child.poll() is not None or time.monotonic() > deadline:
                err = (child.stderr.read() if child.poll() is not None else b"").decode()
                handle.release()
                raise BuildError(f"image {image.path}: squashfuse failed: "
                                 f"{err.strip() or 'no mount after 5 s'}")
            time.sleep(0.001)
        handle.mounted = True
        return handle
