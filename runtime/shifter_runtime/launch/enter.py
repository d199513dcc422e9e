"""Enter a container root as the calling user, without privilege.

1. :func:`enter_user_namespace`: unshare a user + mount namespace whose uid
   and gid maps are one line each, ``id id 1``: inside, the process keeps its
   own uid and primary gid and has the namespace's capabilities until
   :func:`drop_privileges`.  ``setgroups`` is denied, as the kernel requires
   before an unprivileged gid map; the supplementary groups therefore stay
   exactly as they were (access checks still use them, and they can never be
   dropped to get around a group-denied permission), but only the primary gid
   is mapped, so ``id`` shows the others as the overflow gid, e.g. for
   shifteruser (also in shiftergrp)::

       uid=1902(shifteruser) gid=1903(shifteruser) groups=1903(shifteruser),65534

   Mapping them too would need a privileged helper (``newgidmap``), which this
   runtime deliberately does without.
2. :func:`bind_self` and :func:`pivot_into`: ``pivot_root(".", ".")`` then a
   lazy unmount of ``.`` drops the host root without needing a ``put_old``
   directory in a read-only image; nothing of the host file system stays
   reachable from the namespace.
3. :func:`drop_privileges`: every capability goes, from the bounding set (one
   ``PR_CAPBSET_DROP`` per capability up to ``cap_last_cap``), the ambient
   set, then effective, permitted and inheritable through ``capset``.
   ``PR_SET_NO_NEW_PRIVS`` makes setuid bits and file capabilities inert for
   everything executed afterwards (the container mounts are ``nosuid`` as well).
"""
import posix  # not os: importing os costs about 1 ms on the launch path

from ..kernel import libc


def _write(path: str, text: str) -> None:
    fd = posix.open(path, posix.O_WRONLY)
    try:
        posix.write(fd, text.encode())
    finally:
        posix.close(fd)


def enter_user_namespace(uid: int, gid: int) -> None:
    """unshare a user + mount namespace; map ``uid``/``gid`` 1:1; make ``/`` a slave.

    The mounts copied from the host stay slaves, so an ``unsetupRoot`` on the
    host still propagates into running containers and frees the node.
    """
    libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)


def bind_self(path: str) -> None:
    """Recursively bind ``path`` onto itself so it is a mount we own (pivot_root needs one)."""
    libc.mount(path, path, None, libc.MS_BIND | libc.MS_REC)


def pivot_into(path: str) -> None:
    """Switch the namespace root to the mount at ``path``; cwd becomes ``/``."""
    posix.chdir(path)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    posix.chdir("/")


def last_cap() -> int:
    """The highest capability number of this kernel (read it before leaving the host root)."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def drop_privileges(highest_cap: int) -> None:
    """Clear all five capability sets and set no_new_privs (irreversible)."""
    drop_bounding_and_ambient(highest_cap)
    clear_capabilities()


def drop_bounding_and_ambient(highest_cap: int) -> None:
    """Empty the bounding and ambient sets (needs CAP_SETPCAP: before leaving root)."""
    for cap in range(highest_cap + 1):
        libc.prctl(libc.PR_CAPBSET_DROP, cap)
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities() -> None:
    """Clear the effective, permitted and inheritable sets; set no_new_privs."""
    libc.capset_zero()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
