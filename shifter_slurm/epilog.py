"""Job epilog (root, on every node): kill what the container left, tear it down.

Runs after normal exit, scancel, a killed step or a failed prolog alike: every
process in the job's shifter cgroup is killed and the cgroup removed, then
``unsetupRoot`` unmounts the container unless another job's prolog built it
(marker.py; anything still mounted on udiMount/loopMount is torn down, so a
half-done prolog is cleaned too).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from shifter_slurm import marker, siteconf
from shifter_slurm.cgroups import JobCgroup
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.prolog import request_from_env, run_logged, unsetup_root_argv

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank


def job_epilog(spank: "Spank", conf: "PlugConf") -> int:
    """Clean this node of the job's container and processes."""
    req, _ = request_from_env(os.environ)
    if not req.image:
        return 0
    site = siteconf.load(conf.shifter_config)
    job_id, uid = spank.job_id(), spank.job_uid()
    if conf.memory_cgroup:
        left = JobCgroup(conf.memory_cgroup, uid, job_id).kill_and_remove()
        if left:
            raise ShifterSlurmError(f"job {job_id}: processes {left} survived SIGKILL in the shifter cgroup")
    owner = marker.read(site.udi_mount)
    if owner is not None and owner != job_id:
        spank.info(f"shifter: job {job_id}: container belongs to job {owner}, left in place")
        return 0
    if owner is None and not (os.path.ismount(site.udi_mount) or os.path.ismount(site.loop_mount)):
        return 0  # no container on this node (shared-node job)
    run_logged(spank, unsetup_root_argv(site.udi_root_path, conf.shifter_config), "unsetupRoot")
    marker.remove(site.udi_mount)
    return 0
