"""``<udiMount>/var/shifterSlurm.jobid``: which job built this node's container.

The container root holds image content, so both path components are opened
with O_NOFOLLOW: a symlink planted by an image can never redirect root's write.
"""
from __future__ import annotations

import os

FILE = "shifterSlurm.jobid"


def _open(udi_mount: str, flags: int, mode: int = 0o644) -> int:
    root = os.open(udi_mount, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        var = os.open("var", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root)
    finally:
        os.close(root)
    try:
        return os.open(FILE, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=var)
    finally:
        os.close(var)


def write(udi_mount: str, job_id: int) -> None:
    """Record ``job_id`` (raises OSError, e.g. on a read-only container root)."""
    fd = _open(udi_mount, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{job_id}\n")


def read(udi_mount: str) -> int | None:
    """The recorded job id, or None when there is none."""
    try:
        fd = _open(udi_mount, os.O_RDONLY)
    except OSError:
        return None
    with os.fdopen(fd) as handle:
        text = handle.read().strip()
    return int(text) if text.isdigit() else None
