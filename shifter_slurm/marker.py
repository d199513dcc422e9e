"""Which job built this node's container: ``/run/shifter/jobs/<udiMount>``.

The record lives outside the container, in a root-only directory, so image
content can neither stand in for it nor redirect root's write (each file is
named after udiMount by ``launchenv.path_key``, as launch plans are).  The prolog
writes it before setupRoot (so the epilog tears down whatever a failed build
leaves), the epilog reads it and removes it with the container.
"""
from __future__ import annotations

import os

from shifter_runtime.launchenv import path_key

JOBS_DIR = "/run/shifter/jobs"
_MAX_BYTES = 64


def path(udi_mount: str) -> str:
    """The record of the container on ``udi_mount``."""
    return f"{JOBS_DIR}/{path_key(udi_mount)}"


def write(udi_mount: str, job_id: int) -> None:
    """Record ``job_id`` (root only; raises OSError)."""
    os.makedirs(os.path.dirname(JOBS_DIR), mode=0o755, exist_ok=True)
    os.makedirs(JOBS_DIR, mode=0o700, exist_ok=True)
    fd = os.open(path(udi_mount), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{job_id}\n")


def read(udi_mount: str) -> int | None:
    """The recorded job id, or None when there is none."""
    try:
        fd = os.open(path(udi_mount), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        text = handle.read(_MAX_BYTES).strip()
    return int(text) if text.isdigit() else None


def remove(udi_mount: str) -> None:
    """Forget the record (the container is gone)."""
    try:
        os.unlink(path(udi_mount))
    except FileNotFoundError:
        pass
