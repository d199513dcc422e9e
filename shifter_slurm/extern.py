"""``extern_cgroup=1``: the job's extern step adopts the container's processes.

Upstream hands each pid to slurmstepd (``stepd_add_extern_pid``).  Here the
extern step's own task (the child this slurmstepd just forked; SPANK gives no
``S_TASK_PID`` in the extern step) shows where Slurm tracks the step: with
``ProctrackType=proctrack/cgroup`` its freezer cgroup
(``slurm_<node>/uid_<uid>/job_<id>/step_extern``).  Moving the sshd, and
everything else in the job's shifter cgroup, there makes Slurm account for it
and kill it with the job.  With proctrack/linuxproc there is no cgroup to
join: the hook says so in slurmd's log and leaves the processes where they
are (the epilog still kills them).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from shifter_runtime.state import STATE_FILE
from shifter_slurm import siteconf, sshd
from shifter_slurm.cgroups import JobCgroup

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank

FREEZER_ROOT = "/sys/fs/cgroup/freezer"


def freezer_path(proc_cgroup: str) -> str | None:
    """The freezer cgroup in a ``/proc/<pid>/cgroup`` text (cgroup v1), or None."""
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return path
    return None


def step_tasks() -> list[int]:
    """The children of this slurmstepd: the extern step's task."""
    pids: list[int] = []
    for children in Path("/proc/self/task").glob("*/children"):
        pids += [int(pid) for pid in children.read_text().split()]
    return pids


def step_freezer_cgroup() -> str | None:
    """The freezer cgroup of the extern step's task ("/" when not tracked by one)."""
    for pid in step_tasks():
        try:
            return freezer_path(Path(f"/proc/{pid}/cgroup").read_text())
        except FileNotFoundError:
            continue
    return None


def in_container(pid: int, uid: int, udi_mount: str) -> bool:
    """Whether process ``pid`` runs as ``uid`` (all four uids) with ``udi_mount`` as its root."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        root, mount = os.stat(f"/proc/{pid}/root"), os.stat(udi_mount)
    except OSError:
        return False
    uids = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
    return uids == [str(uid)] * 4 and (root.st_dev, root.st_ino) == (mount.st_dev, mount.st_ino)


def container_pids(conf: "PlugConf", udi_mount: str, uid: int, job_id: int) -> list[int]:
    """The job's shifter cgroup, or without ``memory_cgroup`` the sshd alone.

    The sshd's pid file is the user's to write: the pid it names is taken only
    for a process of the job's user chrooted in the container.
    """
    if conf.memory_cgroup:
        return JobCgroup(conf.memory_cgroup, uid, job_id).pids()
    pid = sshd.read_pid(udi_mount)
    return [pid] if pid is not None and in_container(pid, uid, udi_mount) else []


def adopt(spank: "Spank", conf: "PlugConf") -> int:
    """task_post_fork of the extern step: move the container's processes into it."""
    site = siteconf.load(conf.shifter_config)
    if not (Path(site.udi_mount) / STATE_FILE).exists():
        return 0
    step_cgroup = step_freezer_cgroup()
    if not step_cgroup or step_cgroup == "/":
        spank.error("shifter: extern_cgroup=1 needs ProctrackType=proctrack/cgroup; "
                    "the container's processes stay in the job's shifter cgroup")
        return 0
    procs = Path(FREEZER_ROOT) / step_cgroup.lstrip("/") / "cgroup.procs"
    moved = []
    for pid in container_pids(conf, site.udi_mount, spank.job_uid(), spank.job_id()):
        try:
            procs.write_text(f"{pid}\n")
            moved.append(pid)
        except ProcessLookupError:
            pass
    spank.info(f"shifter: extern step of job {spank.job_id()} adopted pids {moved}")
    return 0
