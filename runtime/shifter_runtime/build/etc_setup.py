"""The container's /etc: host files, accounts (passwd, group, nsswitch), hostsfile."""
from __future__ import annotations

import grp
import os
import pwd

from . import etcfiles
from .etcfiles import GroupEntry, PasswdEntry
from .rootfs import RootFs, copy_file
from .spec import BuildError, EtcPolicy, UserInfo

HOST_FILES = ("/etc/hosts", "/etc/resolv.conf")
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf")


def copy_host_files(root: RootFs) -> None:
    """Copy the host's ``/etc/hosts`` and ``/etc/resolv.conf`` (root:root 0644)."""
    for path in HOST_FILES:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            continue
        root.write(path, data)


def make_account_files(root: RootFs, user: UserInfo, policy: EtcPolicy) -> None:
    """passwd/group/nsswitch.conf (copied from etcPath or generated), an empty shadow,
    then the group file filtered to ``maxGroupCount`` memberships of the user."""
    for path in ACCOUNT_FILES:
        if root.lexists(path):
            raise BuildError(f"container {path} already exists (set by a siteFs or hook?)")
    if policy.populate_dynamically:
        _generate(root, user, policy.users_to_import)
    else:
        _copy_etc_path(root, policy.etc_path)
    root.write("/etc/shadow", b"", 0o600)
    if root.lexists("/etc/group"):
        root.rename("/etc/group", "/etc/group.orig")
        text = root.read("/etc/group.orig").decode("utf-8", "replace")
        root.write("/etc/group", etcfiles.filter_group(text, user.name,
                                                         policy.max_group_count).encode())


def _copy_etc_path(root: RootFs, etc_path: str | None) -> None:
    if not etc_path:
        raise BuildError("etcPath is not set and populateEtcDynamically=0")
    try:
        src = os.open(etc_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BuildError(f"etcPath {etc_path}: {exc.strerror}") from None
    dst = root.open("/etc", os.O_RDONLY | os.O_DIRECTORY, follow=False)
    try:
        with os.scandir(src) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if root.lexists(f"/etc/{entry.name}"):
                    raise BuildError(f"etcPath {etc_path}/{entry.name}: already in the "
                                     "container's /etc")
                copy_file(src, entry.name, dst, entry.name)
                os.chown(entry.name, 0, 0, dir_fd=dst, follow_symlinks=False)
                os.chmod(entry.name, 0o644, dir_fd=dst)
    finally:
        os.close(src)
        os.close(dst)


def _generate(root: RootFs, user: UserInfo, users_to_import: tuple[str, ...] | list[str]) -> None:
    people = [PasswdEntry(user.name, user.uid, user.gid, user.gecos, user.home, user.shell)]
    groups = _groups_of(user.name, [user.gid, *user.gids])
    for name in users_to_import:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise BuildError(f"usersToImport: unknown user {name!r}") from None
        people.append(PasswdEntry(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_gecos, pw.pw_dir,
                                  pw.pw_shell))
        groups += _groups_of(pw.pw_name, os.getgrouplist(pw.pw_name, pw.pw_gid))
    root.write("/etc/passwd", etcfiles.passwd_text(people).encode())
    root.write("/etc/group", etcfiles.group_text(groups).encode())
    root.write("/etc/nsswitch.conf", etcfiles.NSSWITCH_CONF.encode())
    root.write("/etc/host.conf", etcfiles.HOST_CONF.encode())


def _groups_of(member: str, gids: list[int]) -> list[GroupEntry]:
    """Group lines listing ``member`` for each gid (names from the host, else the gid)."""
    out = []
    for gid in dict.fromkeys(gids):
        try:
            name = grp.getgrgid(gid).gr_name
        except KeyError:
            name = str(gid)
        out.append(GroupEntry(name, gid, (member,)))
    return out


def write_hostsfile(root: RootFs, nodespec: str) -> None:
    """``/var/hostsfile``: each host of the node spec once per task."""
    root.write("/var/hostsfile", etcfiles.hostsfile_text(nodespec).encode())
