"""Host mounts that security tests use as the attack: what the container must not inherit."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def suid_dev_tmpfs(path: Path) -> Iterator[Path]:
    """A tmpfs on ``path`` mounted suid,dev on the host (neither nosuid nor nodev),
    checked in mountinfo so a test built on it cannot pass vacuously."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "suid,dev,mode=0755", "tmpfs", str(path)],
                   check=True)
    try:
        with open("/proc/self/mountinfo") as fh:
            opts = next(line.split()[5] for line in fh if line.split()[4] == str(path))
        assert "nosuid" not in opts and "nodev" not in opts, opts
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)
