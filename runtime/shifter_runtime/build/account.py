"""Who the container is for: the user's passwd entry and groups (upstream's
``shifter_getpwnam``: libc with ``allowLibcPwdCalls=1``, else ``<etcPath>/passwd``)."""
from __future__ import annotations

import os
import pwd
from typing import Optional

from .spec import BuildError, UserInfo

MAX_GROUPS = 512


def _from_etc_passwd(path: str, name: Optional[str], uid: Optional[int]):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                f = line.rstrip("\n").split(":")
                if len(f) < 7 or not f[2].isdigit() or not f[3].isdigit():
                    continue
                if (name is not None and f[0] == name) or (name is None and int(f[2]) == uid):
                    return f[0], int(f[2]), int(f[3]), f[4], f[5], f[6]
    except OSError as exc:
        raise BuildError(f"{path}: {exc.strerror}") from None
    return None


def _from_libc(name: Optional[str], uid: Optional[int]):
    try:
        pw = pwd.getpwnam(name) if name is not None else pwd.getpwuid(uid)
    except KeyError:
        return None
    return pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_gecos, pw.pw_dir, pw.pw_shell


def lookup_user(name: Optional[str], uid: Optional[int], gid: Optional[int], *,
                libc: bool, etc_path: str) -> UserInfo:
    """The container user from ``-u``/``-U``/``-G``; root is refused."""
    if name is None and uid is None:
        raise BuildError("no user given (-u user or -U uid)")
    found = (_from_libc(name, uid) if libc
             else _from_etc_passwd(os.path.join(etc_path, "passwd"), name, uid))
    if found is None:
        if name is None or uid is None or gid is None:
            raise BuildError(f"user {name if name is not None else uid}: not found "
                             f"({'libc' if libc else etc_path + '/passwd'})")
        found = (name, uid, gid, "", "/", "/bin/sh")
    p_name, p_uid, p_gid, gecos, home, shell = found
    if uid is not None and uid != p_uid:
        raise BuildError(f"user {p_name}: -U {uid} does not match its uid {p_uid}")
    gid = p_gid if gid is None else gid
    if p_uid == 0 or gid == 0:
        raise BuildError(f"user {p_name}: the container user may not be root")
    gids = [gid if g == 0 else g for g in os.getgrouplist(p_name, gid)]
    if len(gids) > MAX_GROUPS:
        raise BuildError(f"user {p_name}: more than {MAX_GROUPS} groups")
    return UserInfo(p_name, p_uid, gid, tuple(dict.fromkeys(gids)), gecos, home, shell)
