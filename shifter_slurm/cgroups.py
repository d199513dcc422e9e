"""The job's shifter cgroup: ``<memory_cgroup>/shifter/uid_<uid>/job_<jobid>``.

setupRoot and the container sshd run in it, so the epilog can find and kill
every process the container left behind.  Works on a cgroup v1 memory
hierarchy and on cgroup v2 (both have ``cgroup.procs``).
"""
from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobCgroup:
    """One job's shifter cgroup under a mounted hierarchy ``root``."""

    root: str
    uid: int
    job_id: int

    @property
    def levels(self) -> tuple[Path, Path, Path]:
        """shifter, uid_<uid>, job_<id> (outermost first)."""
        top = Path(self.root) / "shifter"
        user = top / f"uid_{self.uid}"
        return top, user, user / f"job_{self.job_id}"

    @property
    def path(self) -> Path:
        return self.levels[-1]

    def create(self) -> None:
        for level in self.levels:
            try:
                level.mkdir(mode=0o755)
            except FileExistsError:
                pass

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup (its future children follow)."""
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in text.split()]

    def kill_and_remove(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL every process in the cgroup, wait for it to empty, remove it.

        Returns the pids still present at the deadline (empty on success); the
        parents are removed when no other job uses them.
        """
        deadline = time.monotonic() + timeout
        pids = self.pids()
        while pids and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
            pids = self.pids()
        if pids:
            return pids
        for level in reversed(self.levels):
            try:
                level.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
                break
        return []
