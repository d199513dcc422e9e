"""Contents of the container's generated files (pure functions, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .spec import BuildError

NSSWITCH_CONF = (
    "passwd: files\n"
    "group: files\n"
    "shadow: files\n"
    "hosts: files dns\n"
    "networks: files\n"
    "protocols: files\n"
    "services: files\n"
    "ethers: files\n"
    "rpc: files\n"
    "netgroup: files\n"
)
HOST_CONF = "order bind,hosts\nmulti on\n"

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HOST_CHARS = _ALNUM | frozenset(".-_")


def _valid_host(host: str) -> bool:
    return bool(host) and host[0] in _ALNUM and set(host) <= _HOST_CHARS


@dataclass(frozen=True)
class PasswdEntry:
    """One ``/etc/passwd`` line."""

    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str

    def line(self) -> str:
        return f"{self.name}:x:{self.uid}:{self.gid}:{self.gecos}:{self.home}:{self.shell}\n"


@dataclass(frozen=True)
class GroupEntry:
    """One ``/etc/group`` line."""

    name: str
    gid: int
    members: Sequence[str] = ()

    def line(self) -> str:
        return f"{self.name}:x:{self.gid}:{','.join(self.members)}\n"


def passwd_text(entries: Iterable[PasswdEntry]) -> str:
    """``/etc/passwd`` with each user once, in the order given."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.name not in seen:
            seen.add(entry.name)
            out.append(entry.line())
    return "".join(out)


def group_text(entries: Iterable[GroupEntry]) -> str:
    """``/etc/group`` with each gid once, members merged, in first-seen order."""
    merged: dict[int, GroupEntry] = {}
    for entry in entries:
        old = merged.get(entry.gid)
        if old is None:
            merged[entry.gid] = entry
        else:
            members = list(old.members) + [m for m in entry.members if m not in old.members]
            merged[entry.gid] = GroupEntry(old.name, old.gid, members)
    return "".join(e.line() for e in merged.values())


def filter_group(text: str, user: str, max_groups: int) -> str:
    """Upstream ``filterEtcGroup``: the user keeps membership of at most ``max_groups``
    groups that list it (or are named like it); every other group becomes a stub with
    no members; gid 0 lines are dropped."""
    out = []
    kept = 0
    for raw in text.splitlines():
        fields = raw.split(":")
        if len(fields) < 3 or raw.startswith("#"):
            continue
        name, gid = fields[0], fields[2]
        if not gid.isdigit() or int(gid) == 0:
            continue
        members = fields[3].split(",") if len(fields) > 3 and fields[3] else []
        if (user in members or name == user) and kept < max_groups:
            kept += 1
            out.append(f"{name}:x:{gid}:{user}\n")
        else:
            out.append(f"{name}:x:{gid}:\n")
    return "".join(out)


MAX_TASKS = 1 << 22  # /var/hostsfile lines: about 9,000 nodes of 128 tasks fit in one argv string


def parse_nodespec(nodespec: str) -> list[tuple[str, int]]:
    """Upstream's node spec ``"host1/16 host2/16"`` -> ``[(host, tasks), ...]``."""
    entries, total = [], 0
    for item in nodespec.split():
        host, sep, count = item.partition("/")
        if not sep or not _valid_host(host) or not (count.isascii() and count.isdigit()) \
                or int(count) < 1:
            raise BuildError(f"node spec {nodespec!r}: bad entry {item!r} (want host/tasks)")
        total += int(count)
        if total > MAX_TASKS:
            raise BuildError(f"node spec: more than {MAX_TASKS} tasks in all")
        entries.append((host, int(count)))
    if not entries:
        raise BuildError(f"node spec {nodespec!r}: no hosts")
    return entries


def hostsfile_text(nodespec: str) -> str:
    """The ``/var/hostsfile`` of a node spec: each host once per task, a line each."""
    return "".join(f"{host}\n" * count for host, count in parse_nodespec(nodespec))
