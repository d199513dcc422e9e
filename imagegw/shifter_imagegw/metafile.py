"""Image metadata record and the upstream ``<id>.meta`` file format (``KEY: value`` lines).

Kept here until the runtime's ``shifter_runtime.meta`` (the reader) offers a writer.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class ImageMeta:
    """What the runtime needs from an image config, plus the ACLs of a private image."""
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    user: str = ""
    user_acl: tuple[int, ...] = ()
    group_acl: tuple[int, ...] = ()
    fmt: str = "squashfs"

    @property
    def private(self) -> bool:
        return bool(self.user_acl or self.group_acl)

    @classmethod
    def from_config(cls, config: Mapping, *, user_acl=(), group_acl=()) -> "ImageMeta":
        """Build from an OCI/docker image config JSON (``config`` section)."""
        c = config.get("config") or config.get("container_config") or {}
        return cls(env=list(c.get("Env") or []), entrypoint=_strlist(c.get("Entrypoint")),
                   cmd=_strlist(c.get("Cmd")), workdir=c.get("WorkingDir") or "",
                   labels=dict(c.get("Labels") or {}), user=c.get("User") or "",
                   user_acl=tuple(user_acl), group_acl=tuple(group_acl))

    def as_response(self) -> dict:
        """Upstream's worker response keys (``ENV``, ``ENTRY``, ``WORKDIR``, ``LABELS`` ...)."""
        return {"env": self.env, "entrypoint": self.entrypoint, "cmd": self.cmd,
                "workdir": self.workdir, "labels": self.labels, "user": self.user,
                "private": self.private, "userACL": list(self.user_acl), "groupACL": list(self.group_acl)}

    def render(self) -> str:
        """The ``.meta`` text exactly as upstream's ``writemeta`` (lists as Python reprs)."""
        lines = [f"FORMAT: {self.fmt}"]
        if self.entrypoint:
            lines.append(f"ENTRY: {self.entrypoint!r}")
        if self.cmd:
            lines.append(f"CMD: {self.cmd!r}")
        if self.workdir:
            lines.append(f"WORKDIR: {_one_line(self.workdir)}")
        if self.private:
            lines.append("USERACL: " + ",".join(str(u) for u in self.user_acl))
            lines.append("GROUPACL: " + ",".join(str(g) for g in self.group_acl))
        lines.extend(f"ENV: {_one_line(e)}" for e in self.env)
        if self.user:
            lines.append(f"USER: {_one_line(self.user)}")
        return "\n".join(lines) + "\n"


def _strlist(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _one_line(text: str) -> str:
    """A value may not break the line format: newlines become spaces."""
    return str(text).replace("\r", " ").replace("\n", " ")
