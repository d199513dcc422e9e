"""Give up every privilege before the user's command runs.

Inside the user namespace the process holds all capabilities of that
namespace.  They all go: the bounding set (one ``PR_CAPBSET_DROP`` per
capability up to ``cap_last_cap``), the ambient set, then effective, permitted
and inheritable through ``capset``.  ``PR_SET_NO_NEW_PRIVS`` makes setuid bits
and file capabilities inert for everything executed afterwards (the container
mounts are ``nosuid`` as well).
"""
from __future__ import annotations

from ..kernel import libc


def last_cap() -> int:
    """The highest capability number of this kernel (read it before leaving the host root)."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def drop_privileges(highest_cap: int) -> None:
    """Clear all five capability sets and set no_new_privs (irreversible)."""
    for cap in range(highest_cap + 1):
        libc.prctl(libc.PR_CAPBSET_DROP, cap)
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    libc.capset_zero()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
