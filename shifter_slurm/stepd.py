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
import struct
from typing import TYPE_CHECKING

from shifter_slurm import siteconf
from shifter_slurm.errors import ShifterSlurmError

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank

CCM_IMAGE = "/"  # the state file's identifier of a local:/ container
_MAX_STATE_BYTES = 1 << 16
_CAP_VERSION_3 = 0x20080522


def run(hook: str, spank: "Spank", conf: "PlugConf") -> int:
    """Remote-context hooks (the C shim calls only task_init_privileged of --ccm jobs)."""
    if hook != "task_init_privileged" or not conf.enable_ccm or spank.getenv("SHIFTER_CCM") != "1":
        return 0
    site = siteconf.load(conf.shifter_config)
    uid, gid = spank.job_uid(), spank.job_gid()
    user = _user_name(uid)
    check_ccm_container(site.udi_mount, user)
    highest_cap, caps = _last_cap(), _current_caps()
    cwd = os.getcwd()
    os.chroot(site.udi_mount)
    os.chdir("/")
    enter_as_user(cwd, user, uid, gid)
    confine(highest_cap, *caps)
    return 0


def check_ccm_container(udi_mount: str, user: str) -> None:
    """Raise unless ``udi_mount`` holds a ``--ccm`` (``local:/``) container built for ``user``."""
    from shifter_runtime.state import STATE_FILE, parse_state

    try:
        fd = os.open(f"{udi_mount}/{STATE_FILE}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ShifterSlurmError(f"--ccm: no container on this node ({udi_mount}); --ccm needs --exclusive") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        root_file = st.st_uid == 0 and (st.st_mode & 0o170022) == 0o100000
        state = parse_state(handle.read(_MAX_STATE_BYTES)) if root_file else None
    if state is None or state.identifier != CCM_IMAGE:
        raise ShifterSlurmError(f"--ccm: the container on this node ({udi_mount}) was not built for --ccm "
                                "(SHIFTER_CCM=1 needs a job submitted with --ccm); task refused")
    if state.user != user:
        raise ShifterSlurmError(f"--ccm: the container on this node ({udi_mount}) is {state.user}'s, "
                                f"not {user}'s; task refused")


def enter_as_user(cwd: str, user: str, uid: int, gid: int) -> None:
    """chdir to ``cwd`` with the user's effective ids (fallback /tmp), then restore root."""
    old_groups = os.getgroups()
    try:
        os.setgroups(os.getgrouplist(user, gid))
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
    from shifter_runtime.kernel import libc

    for cap in range(highest_cap + 1):
        libc.prctl(libc.PR_CAPBSET_DROP, cap)
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("<Ii", _CAP_VERSION_3, 0)  # this process
    low = 0xFFFFFFFF  # two {effective, permitted, inheritable} u32 triples, low bits first
    data = struct.pack("<6I", effective & low, permitted & low, 0, effective >> 32, permitted >> 32, 0)
    libc.syscall(libc.SYS_CAPSET, header, data, what="capset")
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def _last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap", "rb") as handle:
        return int(handle.read())


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
