"""Single-node Slurm (slurmctld + slurmd on this host) for the tests.

The cluster lives in ``<run>/slurm``; it is restarted only when its
:class:`SlurmSpec` (plugstack lines, PrologFlags, ...) changes.  Sessions share
a running cluster through leases; a session wanting a different spec releases its
own lease and waits until the others are done with theirs.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from testbed import lease
from testbed.paths import run_dir
from testbed.procs import TestbedError, alive, read_pid, run, stop_pid, wait_until
from testbed.slurmconf import Layout, Node, SlurmSpec, plugstack_conf, slurm_conf

SERVICE = "slurm"
CLIENT_TIMEOUT = 120
SPEC_WAIT = 900  # seconds to wait for other sessions to release a different spec


@dataclass
class Slurm:
    """A running cluster as seen by the tests."""

    layout: Layout
    spec: SlurmSpec

    @property
    def conf_path(self) -> Path:
        return self.layout.conf

    @property
    def plugstack_path(self) -> Path:
        return self.layout.plugstack

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.layout.nodes]

    @property
    def env(self) -> dict[str, str]:
        """The environment for Slurm clients (this process's plus SLURM_CONF)."""
        return {**os.environ, "SLURM_CONF": str(self.conf_path)}

    @property
    def log_paths(self) -> dict[str, Path]:
        logs = self.layout.base / "log"
        return {"slurmctld": logs / "slurmctld.log",
                **{f"slurmd-{n}": logs / f"slurmd-{n}.log" for n in self.nodes}}

    def run(self, args: Sequence[str], user: str | None = None, *, check: bool = False,
            timeout: float = CLIENT_TIMEOUT, cwd: str | None = None, env: dict | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a client command (as ``user`` through runuser, in their home) and capture text output."""
        cmd = list(args) if user is None else ["runuser", "-u", user, "--", *args]
        if cwd is None and user is not None:
            cwd = os.path.expanduser(f"~{user}")
        proc = subprocess.run(cmd, env={**self.env, **(env or {})}, cwd=cwd, input=input,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise TestbedError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def node_states(self) -> dict[str, str]:
        out = self.run(["sinfo", "-h", "-N", "-o", "%N %T"]).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def resume(self) -> None:
        """Resume drained nodes (a failing ``required`` prolog drains the node)."""
        for node, state in self.node_states().items():
            if "drain" in state or state in ("down", "down*"):
                self.run(["scontrol", "update", f"nodename={node}", "state=resume"])
        self.wait_idle()

    def wait_idle(self, timeout: float = 30) -> None:
        wait_until(lambda: set(self.node_states().values()) <= {"idle", "mixed", "allocated"} and
                   len(self.node_states()) == len(self.nodes), timeout, "Slurm nodes to be idle", 0.05)

    def wait_job(self, job_id: str, timeout: float = 60) -> str:
        """Wait until job ``job_id`` has left the queue; return its final state."""
        wait_until(lambda: not self.run(["squeue", "-h", "-j", job_id]).stdout.strip(), timeout,
                   f"job {job_id} to finish", 0.1)
        out = self.run(["scontrol", "-o", "show", "job", job_id]).stdout
        fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
        return fields.get("JobState", "UNKNOWN")


def local_layout() -> Layout:
    """This host as the only node (hardware from ``slurmd -C``)."""
    hw = dict(item.split("=", 1) for item in run(["slurmd", "-C"]).stdout.split() if "=" in item)
    name = socket.gethostname()
    node = Node(name, "127.0.0.1", int(hw["CPUs"]), max(int(hw["RealMemory"]) - 512, 1024))
    return Layout(run_dir(SERVICE), f"{name}(127.0.0.1)", (node,))


def _pids(layout: Layout) -> list[Path]:
    run_d = layout.base / "run"
    return [run_d / f"slurmd-{n.name}.pid" for n in layout.nodes] + [run_d / "slurmctld.pid"]


def running(layout: Layout) -> bool:
    """True if every daemon (and namespace holder) of ``layout`` is alive."""
    return all(alive(read_pid(p)) for p in _pids(layout) + layout_holders(layout))


def layout_holders(layout: Layout) -> list[Path]:
    """Pid files of namespace holders a layout depends on (none for the local cluster)."""
    return sorted((layout.base / "run").glob("holder-*.pid"))


def _wanted(layout: Layout, spec: SlurmSpec) -> dict[Path, str]:
    return {layout.conf: slurm_conf(layout, spec), layout.plugstack: plugstack_conf(spec)}


def _is_current(layout: Layout, spec: SlurmSpec) -> bool:
    """True if the cluster runs with exactly the config of ``spec``."""
    return running(layout) and all(p.exists() and p.read_text() == text for p, text in _wanted(layout, spec).items())


def _write(layout: Layout, spec: SlurmSpec) -> None:
    for sub in ("etc", "state", "spool", "run", "log"):
        (layout.base / sub).mkdir(mode=0o755, exist_ok=True)
    for path, text in _wanted(layout, spec).items():
        path.write_text(text)
    (layout.conf.parent / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")


def start(layout: Layout) -> None:
    """Start slurmctld then slurmd (both daemonize); wait for the node."""
    env = {**os.environ, "SLURM_CONF": str(layout.conf)}
    run(["slurmctld", "-c", "-f", str(layout.conf)], env=env)
    for node in layout.nodes:
        (layout.base / "spool" / node.name).mkdir(exist_ok=True)
        run(["slurmd", "-f", str(layout.conf), "-N", node.name], env=env)
    wait_until(lambda: running(layout), 10, "slurmctld and slurmd pid files")


def cancel_all(env: dict[str, str]) -> None:
    """Cancel every job and wait until the queue is empty."""
    if run(["squeue", "-h", "-o", "%i"], env=env, check=False).stdout.strip():
        run(["scancel", "--partition=debug"], env=env, check=False)
        try:
            wait_until(lambda: not run(["squeue", "-h", "-o", "%i"], env=env, check=False).stdout.strip(),
                       20, "cancelled jobs to end", 0.1)
        except TestbedError:
            pass


def stop(layout: Layout) -> None:
    """Cancel jobs, stop slurmd (before slurmctld, see the lab notes), then slurmctld."""
    env = {**os.environ, "SLURM_CONF": str(layout.conf)}
    ctld = read_pid(layout.base / "run" / "slurmctld.pid")
    if alive(ctld):
        cancel_all(env)
    for pidfile in _pids(layout):
        stop_pid(read_pid(pidfile), timeout=15)
        pidfile.unlink(missing_ok=True)
    remove_cgroups(layout)


def remove_cgroups(layout: Layout) -> None:
    """Remove the empty ``slurm_<node>`` cgroups proctrack/cgroup leaves behind."""
    for node in layout.nodes:
        for top in Path("/sys/fs/cgroup").glob(f"*/slurm_{node.name}"):
            for dirpath, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass


def acquire(holder: str, layout: Layout, spec: SlurmSpec, service: str = SERVICE,
            start_fn: Callable[[Layout], None] = start, stop_fn: Callable[[Layout], None] = stop) -> None:
    """Take a lease on ``service`` running ``spec``; (re)start it if nobody else needs the old one.

    A holder that wants another spec gives up its lease on the running one first:
    it is done with it, and two sessions each waiting for the other to release
    would otherwise wait until the deadline.
    """
    deadline = time.monotonic() + SPEC_WAIT
    while True:
        with lease.locked(service):
            current = _is_current(layout, spec)
            if not current:
                lease.give(service, holder)
            others = lease.holders(service)
            if not others or current:
                if not current:
                    stop_fn(layout)
                    _write(layout, spec)
                    try:
                        start_fn(layout)
                    except BaseException:
                        stop_fn(layout)  # nothing half-made
                        raise
                lease.take(service, holder)
                return
        if time.monotonic() > deadline:
            raise TestbedError(f"Slurm cluster busy with another spec held by {others}")
        time.sleep(1)


def up(holder: str, spec: SlurmSpec = SlurmSpec()) -> Slurm:
    """A single-node cluster running ``spec``, with idle (resumed) node."""
    layout = local_layout()
    acquire(holder, layout, spec)
    cluster = Slurm(layout, spec)
    cluster.resume()
    return cluster


def down(holder: str) -> None:
    """Release the lease; stop the cluster when nobody else holds it."""
    layout = local_layout()
    with lease.locked(SERVICE):
        if lease.give(SERVICE, holder):
            stop(layout)
