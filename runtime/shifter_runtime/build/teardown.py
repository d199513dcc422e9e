"""Tear a container down: kill what runs in it, lazily unmount everything (unsetupRoot)."""
from __future__ import annotations

import os
import time
from _signal import SIGKILL, SIGTERM  # the C module: ``signal`` imports enum (4 ms)

from ..kernel import loop, mounts

ATTEMPTS = 10
RETRY_S = 0.3
KILL_GRACE_S = 1.0
LOOP_RELEASE_S = 2.0


def is_mounted(path: str) -> bool:
    """Whether ``path`` is itself a mount point."""
    path = os.path.realpath(path)
    return path in mounts.mounts_under(path)


def unmount_all(*bases: str) -> list[str]:
    """Lazily unmount every mount at or below each of ``bases``, newest first, then
    wait (a little) for the loop devices they used to autoclear; returns what is
    still mounted afterwards (normally nothing)."""
    loops: set[str] = set()
    left: list[str] = []
    for base in map(os.path.realpath, bases):
        for _ in range(ATTEMPTS):
            entries = mounts.mount_entries(base)
            if not entries:
                break
            for point, source in entries:
                if source.startswith("/dev/loop"):
                    loops.add(source)
                try:
                    mounts.umount(point)
                except OSError:
                    pass
        left += mounts.mounts_under(base)
    _wait_loops_released(loops)
    return left


def _wait_loops_released(devices: set[str]) -> None:
    deadline = time.monotonic() + LOOP_RELEASE_S
    while devices and time.monotonic() < deadline:
        devices = {d for d in devices if loop.is_attached(d)}
        if devices:
            time.sleep(0.005)


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
    for sig in (SIGTERM, SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + KILL_GRACE_S
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.01)
        if not pids:
            return


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has nothing left to tear down)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


def destroy_container(udi_mount: str, loop_mount: str) -> list[str]:
    """Leave the node clean: container processes gone, every mount below ``udi_mount``
    and ``loop_mount`` detached (loop devices autoclear). Harmless when nothing is
    there. Returns the mount points that could not be removed."""
    left: list[str] = []
    for attempt in range(ATTEMPTS):
        kill_container_processes(udi_mount, loop_mount)
        left = unmount_all(udi_mount, loop_mount)
        if not left:
            return []
        time.sleep(RETRY_S if attempt else 0)
    return left
