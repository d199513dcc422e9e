"""Processes: run commands, read pid files, stop daemons by pid.

PID 1 on the test machines reaps orphans lazily, so a process counts as gone
as soon as ``/proc/PID/stat`` says zombie (``Z``) or it has disappeared.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence


class TestbedError(RuntimeError):
    """A test bed service could not be brought up or down."""


def run(cmd: Sequence[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` capturing text output; on failure raise with its stderr."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    proc = subprocess.run(list(cmd), check=False, **kwargs)
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise TestbedError(f"{' '.join(cmd)}: exit {proc.returncode}: {err[-1] if err else ''}")
    return proc


def proc_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2]


def alive(pid: int | None) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    return pid is not None and proc_state(pid) not in (None, "Z", "X")


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None if the file is missing or empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``pred`` until true; raise TestbedError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TestbedError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop_pid(pid: int | None, timeout: float = 10.0) -> None:
    """SIGTERM ``pid``, wait until gone, SIGKILL after ``timeout`` seconds."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not alive(pid), timeout, f"pid {pid} to exit")
    except ProcessLookupError:
        return
    except TestbedError:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(pid), 5, f"pid {pid} to die")
    _reap(pid)


def _reap(pid: int) -> None:
    """Reap ``pid`` if it is our child (no-op otherwise)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def spawn(cmd: Sequence[str], log: Path, pidfile: Path, **kwargs) -> int:
    """Start a non-daemonizing server in its own session; record its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid
