"""Multi-node Slurm on one machine: every node in its own net/UTS/mount namespaces.

Layout (see shared/lab/multinode.md): bridge ``mnbr0`` 10.77.0.1/24 in the root
netns (the login node, where clients run); node ``nI`` = netns ``mn-nI`` with
``eth0`` 10.77.0.(10+I) and a *holder* process owning its UTS (hostname ``nI``) and
mount namespace, in which /etc/hosts, /var/udiMount and /var/udiLoopMount are
per-node bind mounts.  slurmctld runs in the root netns inside holder ``mnctl``.
slurmd/slurmctld are nsenter'ed into their holders; everything is stopped by pid.
Ports 6917/6918 keep it clear of the single-node cluster.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Sequence

from testbed import lease
from testbed.paths import run_dir
from testbed.procs import TestbedError, alive, read_pid, run, spawn, stop_pid, wait_until
from testbed.slurm import Slurm, acquire, running, stop as stop_daemons
from testbed.slurmconf import Layout, Node, SlurmSpec

SERVICE = "multinode"
BRIDGE = "mnbr0"
SUBNET = "10.77.0"
CONTROLLER = "mnctl"
NODE_MOUNTS = ("/var/udiMount", "/var/udiLoopMount")  # per-node bind mounts (Shifter's defaults)


def layout_for(count: int) -> Layout:
    base = run_dir(SERVICE)
    nodes = tuple(Node(f"n{i}", f"{SUBNET}.{10 + i}", 2, 2048) for i in range(1, count + 1))
    return Layout(base, f"{CONTROLLER}({SUBNET}.1)", nodes, ctld_port=6917, slurmd_port=6918)


class MultiNode(Slurm):
    """A running namespace cluster; clients run in the root namespaces (the login node)."""

    @property
    def shared(self) -> Path:
        """A directory whose later mounts (made in the root namespace) propagate into every node."""
        return self.layout.base / "shared"

    def node_dir(self, node: str) -> Path:
        """Node ``node``'s private files: ``var/udiMount``, ``var/udiLoopMount`` (its bind sources)."""
        return self.layout.base / "nodes" / node

    def holder_pid(self, node: str) -> int:
        pid = read_pid(self.layout.base / "run" / f"holder-{node}.pid")
        if pid is None:
            raise TestbedError(f"no holder for node {node}")
        return pid

    def node_run(self, node: str, args: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        """Run ``args`` as root inside node ``node``'s namespaces (like ssh root@node)."""
        cmd = ["nsenter", "-t", str(self.holder_pid(node)), "-n", "-u", "-m", "--", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.env, **kwargs)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["ip", *args], check=check)


def _state_file(layout: Layout) -> Path:
    return layout.base / "state.json"


def _hosts(layout: Layout) -> str:
    lines = ["127.0.0.1 localhost", f"{SUBNET}.1 {CONTROLLER} {os.uname().nodename}"]
    lines += [f"{n.addr} {n.name}" for n in layout.nodes]
    return "\n".join(lines) + "\n"


def _network_up(layout: Layout, state: dict) -> None:
    state["netns_dir_existed"] = os.path.isdir("/run/netns")
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for node in layout.nodes:
        ns, veth = f"mn-{node.name}", f"mnv-{node.name}"
        _ip("netns", "add", ns)
        _ip("link", "del", veth, check=False)  # left by a namespace still being destroyed
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", BRIDGE, "up")
        _ip("-n", ns, "addr", "add", f"{node.addr}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")


def _holder(layout: Layout, name: str, netns: str | None, binds: list[tuple[Path, str]]) -> None:
    pidfile = layout.base / "run" / f"holder-{name}.pid"
    script = [f"hostname {name}"] + [f"mount --bind '{src}' '{dst}'" for src, dst in binds]
    script += [f"echo $$ > '{pidfile}'", "exec sleep infinity"]
    cmd = ["unshare", "--uts", "--mount", "--propagation", "slave", "sh", "-ec", " && ".join(script)]
    if netns:
        cmd = ["nsenter", f"--net=/run/netns/{netns}", "--", *cmd]
    pid = spawn(cmd, layout.base / "log" / f"holder-{name}.log", layout.base / "run" / f"holder-{name}.spawn")
    wait_until(lambda: read_pid(pidfile) == pid or not alive(pid), 10, f"namespace holder of {name}")
    if not alive(pid):
        raise TestbedError(f"holder of {name} died: see {layout.base / 'log' / f'holder-{name}.log'}")


def _mountpoints(state: dict) -> None:
    state["created"] = [p for p in NODE_MOUNTS if not os.path.exists(p)]
    for path in NODE_MOUNTS:
        os.makedirs(path, mode=0o755, exist_ok=True)


def start(layout: Layout) -> None:
    """Bring up network, holders, slurmctld and every slurmd; wait until all are up."""
    state: dict = {"nodes": len(layout.nodes)}
    try:
        _mountpoints(state)
        hosts = layout.base / "etc" / "hosts"
        hosts.write_text(_hosts(layout))
        shared = layout.base / "shared"
        shared.mkdir(exist_ok=True)
        run(["mount", "--bind", "--make-shared", str(shared), str(shared)])
        state["shared"] = str(shared)
        _network_up(layout, state)
        _holder(layout, CONTROLLER, None, [(hosts, "/etc/hosts")])
        for node in layout.nodes:
            node_dir = layout.base / "nodes" / node.name
            binds = [(hosts, "/etc/hosts")]
            for mnt in NODE_MOUNTS:
                (node_dir / mnt.strip("/")).mkdir(parents=True, exist_ok=True)
                binds.append((node_dir / mnt.strip("/"), mnt))
            _holder(layout, node.name, f"mn-{node.name}", binds)
    finally:
        _state_file(layout).write_text(json.dumps(state))
    conf = str(layout.conf)
    ctl = read_pid(layout.base / "run" / f"holder-{CONTROLLER}.pid")
    run(["nsenter", "-t", str(ctl), "-u", "-m", "--", "slurmctld", "-c", "-f", conf])
    for node in layout.nodes:
        (layout.base / "spool" / node.name).mkdir(exist_ok=True)
        holder = read_pid(layout.base / "run" / f"holder-{node.name}.pid")
        run(["nsenter", "-t", str(holder), "-n", "-u", "-m", "--", "slurmd", "-f", conf])
    wait_until(lambda: running(layout), 10, "slurmctld and slurmd pid files")


def _netns_pids(node: str) -> list[int]:
    out = run(["ip", "netns", "pids", f"mn-{node}"], check=False).stdout
    return [int(p) for p in out.split()]


def stop(layout: Layout) -> None:
    """Tear everything down (jobs, daemons, strays, holders, network, mounts); idempotent."""
    stop_daemons(layout)
    for node in layout.nodes:
        for pid in _netns_pids(node.name):
            stop_pid(pid, timeout=1)
    for pidfile in (layout.base / "run").glob("holder-*.pid"):
        stop_pid(read_pid(pidfile), timeout=2)
        pidfile.unlink(missing_ok=True)
    for spawned in (layout.base / "run").glob("holder-*.spawn"):
        stop_pid(read_pid(spawned), timeout=2)
        spawned.unlink(missing_ok=True)
    for node in layout.nodes:
        # Deleting the root-side end removes the veth pair now; a netns deletion
        # frees it only when the kernel gets round to destroying the namespace,
        # and a quick restart then finds "mnv-nI: File exists".
        _ip("link", "del", f"mnv-{node.name}", check=False)
        _ip("netns", "del", f"mn-{node.name}", check=False)
    _ip("link", "del", BRIDGE, check=False)
    state = json.loads(_state_file(layout).read_text()) if _state_file(layout).exists() else {}
    if state.get("shared"):
        run(["umount", state["shared"]], check=False)
    if state and not state.get("netns_dir_existed") and os.path.isdir("/run/netns") and not os.listdir("/run/netns"):
        while run(["umount", "/run/netns"], check=False).returncode == 0:
            pass
        os.rmdir("/run/netns")
    for path in state.get("created", []):
        try:
            os.rmdir(path)
        except OSError:
            pass
    _state_file(layout).unlink(missing_ok=True)


def up(holder: str, spec: SlurmSpec = SlurmSpec(), nodes: int = 3) -> MultiNode:
    """A running namespace cluster of ``nodes`` nodes with ``spec``."""
    layout = layout_for(nodes)
    acquire(holder, layout, spec, SERVICE, start, stop)
    cluster = MultiNode(layout, spec)
    cluster.resume()
    return cluster


def down(holder: str) -> None:
    """Release the lease; tear the cluster down when nobody else holds it."""
    with lease.locked(SERVICE):
        if lease.give(SERVICE, holder):
            stop(layout_for(_recorded_nodes()))


def _recorded_nodes() -> int:
    """How many nodes the running (or half-made) cluster has."""
    state = run_dir(SERVICE) / "state.json"
    return json.loads(state.read_text()).get("nodes", 3) if state.exists() else 3
