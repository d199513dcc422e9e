"""Image metadata record of the gateway; the ``.meta`` text comes from the runtime's
:func:`shifter_runtime.meta.format_meta`, the single definition of that format."""
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
    user: str = ""                     # importing user (imports only), upstream's USER line
    config_user: str = ""              # the image config's User (reported, not written)
    user_acl: tuple[int, ...] = ()
    group_acl: tuple[int, ...] = ()
    fmt: str = "squashfs"

    @property
    def private(self) -> bool:
        return bool(self.user_acl or self.group_acl)

    @classmethod
    def from_config(cls, config: Mapping, *, user_acl=(), group_acl=()) -> "ImageMeta":
        """Build from an OCI/docker image config JSON (``config`` section)."""
        c = config.get("config") or config.get("container_config")
        c = c if isinstance(c, dict) else {}     # a registry's config is untrusted: wrong types are dropped
        labels = c.get("Labels") if isinstance(c.get("Labels"), dict) else {}
        env = c.get("Env") if isinstance(c.get("Env"), list) else []
        return cls(env=[e for e in env if isinstance(e, str)],
                   entrypoint=_strlist(c.get("Entrypoint")), cmd=_strlist(c.get("Cmd")),
                   workdir=_str(c.get("WorkingDir")), labels={str(k): str(v) for k, v in labels.items()},
                   config_user=_str(c.get("User")), user_acl=tuple(user_acl), group_acl=tuple(group_acl))

    def render(self) -> str:
        """The ``.meta`` text (upstream's ``writemeta`` format, plus LABEL lines)."""
        from shifter_runtime.meta import ImageMeta as MetaRecord, format_meta

        env = [e for e in self.env if "=" in e and not e.startswith("=") and "\n" not in e]
        workdir = self.workdir if self.workdir.startswith("/") and "\n" not in self.workdir else None
        labels = {_one_line(k).replace("=", "_"): _one_line(v) for k, v in self.labels.items()}
        return format_meta(MetaRecord(format=self.fmt, entrypoint=self.entrypoint or None, cmd=self.cmd or None,
                                      workdir=workdir, env=env, user_acl=list(self.user_acl),
                                      group_acl=list(self.group_acl), user=_one_line(self.user) or None,
                                      labels=labels))


def _strlist(value) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else None


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def _one_line(text: str) -> str:
    """A value may not break the line format: newlines become spaces."""
    return str(text).replace("\r", " ").replace("\n", " ")
