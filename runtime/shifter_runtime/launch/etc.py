"""The site's ``/etc`` files of a private container (upstream's ``prepareSiteModifications``).

``passwd``, ``group`` and ``nsswitch.conf`` come from ``etcPath`` or, with
``populateEtcDynamically``, are generated for the user (plus ``usersToImport``);
``hosts`` and ``resolv.conf`` are the host's; ``mtab`` links to
``/proc/mounts``; ``shadow`` is empty.  Written into the site layer, so they
shadow the image's files.
"""
from __future__ import annotations

import grp
import os
import pwd

from ..config import UdiRootConfig

NSSWITCH = ("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
            "networks: files\nprotocols: files\nservices: files\n"
            "ethers: files\nrpc: files\nnetgroup: files\n")
HOST_CONF = "order bind,hosts\nmulti on\n"


def _copy(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)


def _passwd_line(pw: pwd.struct_passwd) -> str:
    return (f"{pw.pw_name}:x:{pw.pw_uid}:{pw.pw_gid}:{pw.pw_gecos}:"
            f"{pw.pw_dir}:{pw.pw_shell}\n")


def _dynamic(config: UdiRootConfig, user: pwd.struct_passwd, etc: str) -> None:
    users = [user]
    for name in config.users_to_import:
        try:
            users.append(pwd.getpwnam(name))
        except KeyError:
            continue
    gids: dict[int, str] = {}
    for pw in users:
        for gid in os.getgrouplist(pw.pw_name, pw.pw_gid):
            if gid != 0 and gid not in gids:
                try:
                    gids[gid] = grp.getgrgid(gid).gr_name
                except KeyError:
                    continue
    with open(f"{etc}/passwd", "w") as f:
        f.writelines(_passwd_line(pw) for pw in users)
    members = list(gids)[:config.max_group_count]
    with open(f"{etc}/group", "w") as f:
        f.writelines(f"{name}:x:{gid}:{user.pw_name if gid in members else ''}\n"
                     for gid, name in gids.items())
    with open(f"{etc}/nsswitch.conf", "w") as f:
        f.write(NSSWITCH)
    with open(f"{etc}/host.conf", "w") as f:
        f.write(HOST_CONF)


def filter_group(text: str, user: str, max_groups: int) -> str:
    """Upstream ``filterEtcGroup``: membership kept (as just the user) for at most
    ``max_groups`` groups that list the user or are named like it; every other
    group becomes a stub ``name:x:gid:``; gid 0 lines are dropped."""
    out, kept = [], 0
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or fields[2] == "0":
            continue
        member = user in fields[3].split(",") or fields[0] == user
        if member and kept < max_groups:
            kept += 1
            out.append(f"{fields[0]}:x:{fields[2]}:{user}\n")
        else:
            out.append(f"{fields[0]}:x:{fields[2]}:\n")
    return "".join(out)


def write_site_etc(config: UdiRootConfig, user: pwd.struct_passwd, etc: str) -> None:
    """Fill the site layer's ``etc`` directory."""
    os.symlink("/proc/mounts", f"{etc}/mtab")
    for name in ("hosts", "resolv.conf"):
        if os.path.exists(f"/etc/{name}"):
            _copy(f"/etc/{name}", f"{etc}/{name}")
    if config.populate_etc_dynamically:
        _dynamic(config, user, etc)
    else:
        for entry in os.scandir(config.etc_path):
            if entry.is_file():
                _copy(entry.path, f"{etc}/{entry.name}")
        if os.path.exists(f"{etc}/group"):
            with open(f"{etc}/group", encoding="utf-8") as f:
                text = f.read()
            with open(f"{etc}/group", "w", encoding="utf-8") as f:
                f.write(filter_group(text, user.pw_name, config.max_group_count))
    open(f"{etc}/shadow", "w").close()
