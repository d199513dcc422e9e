"""Leases: concurrent test sessions share one daemon; the last one out stops it.

A lease is a file ``<run>/leases/<service>/<holder>``.  A holder ``pid-N`` is
live while process N is; any other holder (``cli`` from ``python -m testbed up``)
lives until released.  Start/stop decisions happen under an exclusive flock.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

from testbed.paths import run_dir
from testbed.procs import alive


def default_holder() -> str:
    """The holder name of this process (a pytest session)."""
    return f"pid-{os.getpid()}"


@contextmanager
def locked(service: str) -> Iterator[None]:
    """Hold the exclusive lock of ``service`` for the duration of the block."""
    with open(run_dir("locks") / f"{service}.lock", "w") as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def holders(service: str) -> list[str]:
    """Live holders of ``service``; stale ``pid-N`` leases are removed."""
    live = []
    for entry in sorted(run_dir("leases", service).iterdir()):
        name = entry.name
        if name.startswith("pid-") and not alive(int(name[4:])):
            entry.unlink(missing_ok=True)
        else:
            live.append(name)
    return live


def take(service: str, holder: str) -> None:
    """Record that ``holder`` uses ``service`` (call under :func:`locked`)."""
    (run_dir("leases", service) / holder).touch()


def give(service: str, holder: str) -> bool:
    """Drop the lease of ``holder``; True if nobody else holds ``service``."""
    (run_dir("leases", service) / holder).unlink(missing_ok=True)
    return not holders(service)
