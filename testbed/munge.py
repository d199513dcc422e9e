"""munged for the test bed: reuse a running one, else start it as user munge.

A munged found running on the default socket is used and never stopped; one we
start is recorded in ``<run>/munge/munged.pid`` and stopped by the last lease.
"""
from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from testbed import lease
from testbed.paths import run_dir
from testbed.procs import read_pid, run, stop_pid, wait_until

SOCKET = Path("/run/munge/munge.socket.2")
KEY = Path("/etc/munge/munge.key")
DAEMON_PIDFILE = Path("/run/munge/munged.pid")


@dataclass(frozen=True)
class Munge:
    """A usable munged."""

    socket: Path
    pid: int | None
    ours: bool


def works(socket: Path = SOCKET) -> bool:
    """True if a credential encoded through ``socket`` decodes again."""
    if not socket.is_socket():
        return False
    enc = run(["munge", "-n", "-S", str(socket)], check=False)
    if enc.returncode != 0:
        return False
    dec = run(["unmunge", "-S", str(socket)], input=enc.stdout, check=False)
    return dec.returncode == 0


def _ensure_key() -> None:
    pw = pwd.getpwnam("munge")
    if not KEY.exists():
        KEY.parent.mkdir(mode=0o700, exist_ok=True)
        os.chown(KEY.parent, pw.pw_uid, pw.pw_gid)
        run(["mungekey", "--create", "--keyfile", str(KEY)])
        os.chown(KEY, pw.pw_uid, pw.pw_gid)
        KEY.chmod(0o400)
    for d in ("/run/munge", "/var/lib/munge", "/var/log/munge"):
        Path(d).mkdir(mode=0o755, exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)


def _ours_file() -> Path:
    return run_dir("munge") / "munged.pid"


def up(holder: str) -> Munge:
    """Make munged available and take a lease on it."""
    with lease.locked("munge"):
        ours = read_pid(_ours_file())
        if not works():
            _ensure_key()
            if SOCKET.exists():
                SOCKET.unlink()
            run(["runuser", "-u", "munge", "--", shutil.which("munged") or "/usr/sbin/munged"])
            wait_until(lambda: read_pid(DAEMON_PIDFILE) is not None and works(), 10, "munged")
            ours = read_pid(DAEMON_PIDFILE)
            _ours_file().write_text(f"{ours}\n")
        lease.take("munge", holder)
        pid = read_pid(DAEMON_PIDFILE)
        return Munge(socket=SOCKET, pid=pid, ours=ours is not None and ours == pid)


def down(holder: str) -> None:
    """Release the lease; stop munged if we started it and nobody holds it."""
    with lease.locked("munge"):
        if lease.give("munge", holder):
            stop_pid(read_pid(_ours_file()))
            _ours_file().unlink(missing_ok=True)

