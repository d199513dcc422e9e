"""Tear a container down: kill what runs in it, lazily unmount everything (unsetupRoot)."""
from __future__ import annotations

import os
import signal
import time

from ..kernel import mounts

ATTEMPTS = 10
RETRY_S = 0.3
KILL_GRACE_S = 1.0


def is_mounted(path: str) -> bool:
    """Whether ``path`` is itself a mount point."""
    path = os.path.realpath(path)
    return path in mounts.mounts_under(path)


def unmount_all(base: str) -> list[str]:
    """Lazily unmount every mount at or below ``base``, newest first; returns what is
    still mounted afterwards (normally nothing)."""
    base = os.path.realpath(base)
    for _ in range(ATTEMPTS):
        left = mounts.mounts_under(base)
        if not left:
            return []
        for point in left:
            try:
                mounts.umount(point)
            except OSError:
                pass
    return mounts.mounts_under(base)


def container_pids(devices: set[int]) -> list[int]:
    """Processes whose root or working directory lies on one of ``devices`` (works
    across mount namespaces, unlike comparing paths)."""
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        for link in ("root", "cwd"):
            try:
                if os.stat(f"/proc/{name}/{link}").st_dev in devices:
                    found.append(int(name))
                    break
            except OSError:
                continue
    return found


def kill_container_processes(udi_mount: str, loop_mount: str) -> None:
    """SIGTERM, then SIGKILL, every process living in the container or the image."""
    devices = {os.stat(p).st_dev for p in (udi_mount, loop_mount)
               if os.path.isdir(p) and is_mounted(p)}
    if not devices:
        return
    pids = container_pids(devices)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + KILL_GRACE_S
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
            time.sleep(0.01)
        if not pids:
            return


def destroy_container(udi_mount: str, loop_mount: str) -> list[str]:
    """Leave the node clean: container processes gone, every mount below ``udi_mount``
    and ``loop_mount`` detached (loop devices autoclear). Harmless when nothing is
    there. Returns the mount points that could not be removed."""
    left: list[str] = []
    for attempt in range(ATTEMPTS):
        kill_container_processes(udi_mount, loop_mount)
        left = unmount_all(udi_mount) + unmount_all(loop_mount)
        if not left:
            return []
        time.sleep(RETRY_S if attempt else 0)
    return left
