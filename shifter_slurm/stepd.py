"""Job steps (slurmstepd, root): place ``--ccm`` tasks in the job's container.

Runs in task_init_privileged, in the forked task process before Slurm drops
privileges and execs the task.  ``SHIFTER_CCM=1`` in the step's environment is
the user's to set, so it only asks: the task is placed only when the
container on this node is a ``--ccm`` container of the job's user (its
root-written state file says ``local:/``), and is refused otherwise.  The task
is chrooted into it and returns to its working directory, checked with the
job user's own rights (``/tmp`` when the user cannot enter it).  Then it gets
no_new_privs and empty bounding, ambient and inheritable capability sets;
Slurm's switch to the user empties the effective and permitted sets.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

# imported here, not where used: after the chroot, imports would come from the container
from shifter_runtime.kernel import libc
from shifter_runtime.launch import enter
from shifter_runtime.launch.prepared import root_regular
from shifter_runtime.state import STATE_FILE, parse_state
from shifter_slurm import siteconf
from shifter_slurm.errors import ShifterSlurmError

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank

CCM_IMAGE = "/"  # the state file's identifier of a local:/ container
_MAX_STATE_BYTES = 1 << 16


def run(hook: str, spank: "Spank", conf: "PlugConf") -> int:
    """Remote-context hooks (the C shim calls only task_init_privileged of --ccm jobs)."""
    if hook != "task_init_privileged" or not conf.enable_ccm or spank.getenv("SHIFTER_CCM") != "1":
        return 0
    site = siteconf.load(conf.shifter_config)
    uid, gid = spank.job_uid(), spank.job_gid()
    user = _user_name(uid)
    check_ccm_container(site.udi_mount, user)
    groups = os.getgrouplist(user, gid)  # the host's NSS: after the chroot it would be the container's
    highest_cap, caps = enter.last_cap(), _current_caps()
    cwd = os.getcwd()
    os.chroot(site.udi_mount)
    os.chdir("/")
    enter_as_user(cwd, uid, gid, groups)
    confine(highest_cap, *caps)
    return 0


def check_ccm_container(udi_mount: str, user: str) -> None:
    """Raise unless ``udi_mount`` holds a ``--ccm`` (``local:/``) container built for ``user``."""
    path = f"{udi_mount}/{STATE_FILE}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ShifterSlurmError(f"--ccm: no container on this node ({udi_mount}); --ccm needs --exclusive") from None
    except OSError as exc:
        raise ShifterSlurmError(f"--ccm: {path}: {exc.strerror}; task refused") from None
    with os.fdopen(fd, "rb") as handle:
        state = parse_state(handle.read(_MAX_STATE_BYTES)) if root_regular(os.fstat(fd)) else None
    if state is None or state.identifier != CCM_IMAGE:
        raise ShifterSlurmError(f"--ccm: the container on this node ({udi_mount}) was not built for --ccm "
                                "(SHIFTER_CCM=1 needs a job submitted with --ccm); task refused")
    if state.user != user:
        raise ShifterSlurmError(f"--ccm: the container on this node ({udi_mount}) is {state.user}'s, "
                                f"not {user}'s; task refused")


def enter_as_user(cwd: str, uid: int, gid: int, groups: list[int]) -> None:
    """chdir to ``cwd`` with the user's effective ids and ``groups`` (fallback /tmp), then restore root."""
    old_groups = os.getgroups()
    try:
        os.setgroups(groups)
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


def confine(highest_cap: int, effective: int, permitted: int) -> None:
    """no_new_privs; drop every capability from the bounding, ambient and inheritable
    sets, keeping ``effective`` and ``permitted`` for Slurm's setgroups/setresuid."""
    enter.drop_bounding_and_ambient(highest_cap)
    libc.capset(effective, permitted, 0)
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def _current_caps() -> tuple[int, int]:
    """This process's effective and permitted capability sets."""
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":\t", 1) for line in handle if line.startswith("Cap"))
    return int(fields["CapEff"], 16), int(fields["CapPrm"], 16)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ShifterSlurmError(f"--ccm: uid {uid} has no passwd entry") from None
