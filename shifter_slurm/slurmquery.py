"""What Slurm knows about a job: its nodes, CPUs and sharing, via Slurm's commands.

pyslurm has no release for Slurm 22.05 (Debian 12), so this asks ``scontrol``;
the interface is small enough to back with pyslurm where a matching release
exists.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

from shifter_slurm.errors import ShifterSlurmError


@dataclass(frozen=True)
class JobInfo:
    """The parts of a job the prolog needs (``nodes`` only for node-exclusive jobs, the
    only ones that get a container)."""

    job_id: int
    nodes: tuple[str, ...]
    num_cpus: int
    exclusive: bool
    stderr: str | None = None

    @property
    def tasks_per_node(self) -> int:
        """Upstream's rule: the job's CPUs spread evenly over its nodes."""
        return max(1, self.num_cpus // max(1, len(self.nodes)))

    def node_spec(self) -> str:
        """``host/tasks host/tasks ...`` for setupRoot ``-N`` (/var/hostsfile)."""
        return " ".join(f"{node}/{self.tasks_per_node}" for node in self.nodes)


def parse_show_job(text: str) -> dict[str, str]:
    """Fields of one ``scontrol show job -o`` line (values never contain spaces we need)."""
    fields: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


def _scontrol(*args: str) -> str:
    proc = subprocess.run(["scontrol", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise ShifterSlurmError(f"scontrol {' '.join(args)} failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def job_info(job_id: int) -> JobInfo:
    """Ask slurmctld about ``job_id``."""
    fields = parse_show_job(_scontrol("show", "job", "-o", str(job_id)))
    nodelist = fields.get("NodeList", "")
    if not nodelist or nodelist == "(null)":
        raise ShifterSlurmError(f"job {job_id} has no nodes yet (NodeList={nodelist or 'missing'})")
    exclusive = fields.get("OverSubscribe") == "NO"
    nodes = tuple(_scontrol("show", "hostnames", nodelist).split()) if exclusive else ()
    return JobInfo(
        job_id=job_id, nodes=nodes, num_cpus=int(fields.get("NumCPUs", "1") or 1),
        exclusive=exclusive,
        stderr=fields.get("StdErr") or None,
    )
