"""slurm.conf / plugstack.conf text for the test clusters (pure, no side effects)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SlurmSpec:
    """What a test asks of its cluster; a cluster is restarted only when this changes."""

    plugstack: tuple[str, ...] = ()
    prolog_flags: str = "Alloc,Contain"
    proctrack: str = "proctrack/linuxproc"
    extra: tuple[str, ...] = ()  # more slurm.conf lines


@dataclass(frozen=True)
class Node:
    """One compute node: its name, address and hardware."""

    name: str
    addr: str
    cpus: int
    memory_mb: int


@dataclass(frozen=True)
class Layout:
    """Where one cluster keeps its files, and how it is reached."""

    base: Path
    controller: str  # SlurmctldHost value, e.g. "vm(127.0.0.1)"
    nodes: tuple[Node, ...]
    ctld_port: int = 6817
    slurmd_port: int = 6818
    spool: str = ""  # default <base>/spool/%n

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def plugstack(self) -> Path:
        return self.base / "etc" / "plugstack.conf"


def slurm_conf(layout: Layout, spec: SlurmSpec) -> str:
    """The slurm.conf of a cluster."""
    b = layout.base
    lines = [
        "ClusterName=shifter",
        f"SlurmctldHost={layout.controller}",
        f"SlurmctldPort={layout.ctld_port}",
        f"SlurmdPort={layout.slurmd_port}",
        "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/munge", "CredType=cred/munge",
        "MpiDefault=none", "MailProg=/bin/true",
        f"ProctrackType={spec.proctrack}", "TaskPlugin=task/none",
        f"PrologFlags={spec.prolog_flags}" if spec.prolog_flags else "",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory", "DefMemPerCPU=256",
        "ReturnToService=2", "KillWait=5", "MinJobAge=60",
        "AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        f"StateSaveLocation={b}/state",
        f"SlurmdSpoolDir={layout.spool or f'{b}/spool/%n'}",
        f"SlurmctldPidFile={b}/run/slurmctld.pid",
        f"SlurmdPidFile={b}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={b}/log/slurmctld.log",
        f"SlurmdLogFile={b}/log/slurmd-%n.log",
        f"PlugStackConfig={layout.plugstack}",
        *spec.extra,
    ]
    for n in layout.nodes:
        lines.append(f"NodeName={n.name} NodeAddr={n.addr} CPUs={n.cpus} Boards=1 SocketsPerBoard=1 "
                     f"CoresPerSocket={n.cpus} ThreadsPerCore=1 RealMemory={n.memory_mb} State=UNKNOWN")
    lines.append("PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(line for line in lines if line) + "\n"


def plugstack_conf(spec: SlurmSpec) -> str:
    """The plugstack.conf: exactly the requested lines."""
    return "".join(f"{line}\n" for line in spec.plugstack)
