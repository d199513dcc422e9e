"""Job steps (slurmstepd, root): place ``--ccm`` tasks in the job's container.

Runs in task_init_privileged, in the forked task process before Slurm drops
privileges and execs the task: the task is chrooted into the ``local:/``
container the prolog built, then returns to its working directory, checked
with the job user's own rights (``/tmp`` when the user cannot enter it).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from shifter_slurm import siteconf
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.prolog import STATE_FILE

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank


def run(hook: str, spank: "Spank", conf: "PlugConf") -> int:
    """Remote-context hooks (the C shim calls only task_init_privileged of --ccm jobs)."""
    if hook != "task_init_privileged" or not conf.enable_ccm or spank.getenv("SHIFTER_CCM") != "1":
        return 0
    site = siteconf.load(conf.shifter_config)
    if not (Path(site.udi_mount) / STATE_FILE).exists():
        raise ShifterSlurmError(f"--ccm: no container on this node ({site.udi_mount}); --ccm needs --exclusive")
    cwd = os.getcwd()
    os.chroot(site.udi_mount)
    os.chdir("/")
    enter_as_user(cwd, spank.job_uid(), spank.job_gid())
    return 0


def enter_as_user(cwd: str, uid: int, gid: int) -> None:
    """chdir to ``cwd`` with the user's effective ids (fallback /tmp), then restore root."""
    old_groups = os.getgroups()
    try:
        os.setgroups(os.getgrouplist(_user_name(uid), gid))
        os.setegid(gid)
        os.seteuid(uid)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/tmp")
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(old_groups)


def _user_name(uid: int) -> str:
    import pwd

    return pwd.getpwuid(uid).pw_name
