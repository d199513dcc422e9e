"""What tests must never leave behind: image mounts, loop devices, squashfuse, our daemons."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from testbed import lease
from testbed.paths import run_dir
from testbed.procs import alive, read_pid, run

MOUNT_MARKERS = ("udiMount", "udiLoopMount")


@dataclass(frozen=True)
class Snapshot:
    """Leak-relevant state at one moment."""

    mounts: frozenset[str]
    loops: frozenset[str]
    squashfuse: frozenset[str]

    def minus(self, before: "Snapshot") -> list[str]:
        """Human-readable items present now but not in ``before``."""
        return ([f"mount: {m}" for m in sorted(self.mounts - before.mounts)] +
                [f"loop device: {l}" for l in sorted(self.loops - before.loops)] +
                [f"squashfuse process: {p}" for p in sorted(self.squashfuse - before.squashfuse)])


def _mounts() -> frozenset[str]:
    found = set()
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            source, target, fstype = line.split()[:3]
            if any(m in target for m in MOUNT_MARKERS) or "squashfuse" in fstype or source.startswith("/dev/loop"):
                found.add(f"{source} on {target} type {fstype}")
    return frozenset(found)


def _loops() -> frozenset[str]:
    proc = run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False)
    return frozenset(" ".join(line.split()) for line in proc.stdout.splitlines() if line.strip())


def _processes(match: Callable[[int, list[bytes]], bool]) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every live process whose pid and argv ``match``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if match(int(pid), argv) and alive(int(pid)):
            yield int(pid), argv


def _squashfuse() -> frozenset[str]:
    return frozenset(f"{pid} {b' '.join(argv).decode(errors='replace').strip()}"
                     for pid, argv in _processes(
                         lambda _pid, argv: os.path.basename(argv[0]).startswith(b"squashfuse")))


def snapshot() -> Snapshot:
    return Snapshot(_mounts(), _loops(), _squashfuse())


SERVICE_PIDFILES = {
    "munge": ["munge/munged.pid"],
    "registry-open": ["registry/open/registry.pid"],
    "registry-auth": ["registry/auth/registry.pid"],
    "slurm": ["slurm/run/*.pid"],
    "multinode": ["multinode/run/*.pid", "multinode/run/*.spawn"],
}


def service_pids(service: str) -> list[int]:
    """Live pids recorded for ``service`` under the run dir."""
    base = run_dir()
    pids = {read_pid(path) for pattern in SERVICE_PIDFILES[service] for path in base.glob(pattern)}
    return sorted(pid for pid in pids if alive(pid))


def orphan_daemons() -> list[str]:
    """Our daemons still running although no live session holds their service."""
    left = []
    for service in SERVICE_PIDFILES:
        if not lease.holders(service):
            left += [f"{service} daemon pid {pid}" for pid in service_pids(service)]
    if not lease.holders("multinode"):
        left += [f"multinode network: {name}" for name in _multinode_network()]
    return left


def _multinode_network() -> list[str]:
    """The namespace cluster's bridge and netns, if present."""
    from testbed.multinode import BRIDGE
    names = [f"netns {line.split()[0]}" for line in run(["ip", "netns", "list"], check=False).stdout.splitlines()
             if line.startswith("mn-")]
    if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        names.append(f"bridge {BRIDGE}")
    return names


def other_sessions() -> list[int]:
    """Other pytest processes (their fresh mounts are not ours to judge)."""
    mine = {os.getpid(), os.getppid()}
    return [pid for pid, _argv in _processes(
        lambda pid, argv: pid not in mine and any(b"pytest" in a for a in argv[:3]))]
