"""Records describing the container to build (pure data, no side effects)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

from ..errors import ShifterError


class BuildError(ShifterError):
    """Container assembly failed; the message is one line naming what and where."""


@dataclass(frozen=True)
class PerNodeCache:
    """A per-node XFS scratch filesystem (volume flag ``perNodeCache=size=...``)."""

    size: int
    bs: int = 1 << 20
    fstype: str = "xfs"
    method: str = "loop"


@dataclass(frozen=True)
class Bind:
    """One bind mount: ``source`` on the host (or in the container for user volumes)."""

    source: str
    target: str
    ro: bool = False
    rec: bool = False
    propagation: Optional[Literal["private", "slave"]] = None
    per_node_cache: Optional[PerNodeCache] = None


@dataclass(frozen=True)
class ImageSource:
    """The image: ``format`` is ``squashfs``/``xfs`` (a file) or ``VFS`` (a directory);
    ``env`` is its ``ENV`` (``NAME=value`` items)."""

    identifier: str
    format: str
    path: str
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserInfo:
    """The user the container is built for."""

    name: str
    uid: int
    gid: int
    gids: Sequence[int] = ()
    gecos: str = ""
    home: str = "/"
    shell: str = "/bin/sh"


@dataclass(frozen=True)
class ModuleSpec:
    """An active site module: its siteFs, copyPath and roothook."""

    name: str
    site_fs: Sequence[Bind] = ()
    copy_path: Optional[str] = None
    roothook: Optional[str] = None


@dataclass(frozen=True)
class EtcPolicy:
    """How ``/etc/passwd``, ``group`` and ``nsswitch.conf`` are made."""

    etc_path: Optional[str] = None
    populate_dynamically: bool = False
    users_to_import: Sequence[str] = ()
    max_group_count: int = 0


@dataclass
class BuildSpec:
    """Everything ``build_container`` needs; see the package docstring."""

    udi_mount: str
    loop_mount: str
    image: ImageSource
    user: UserInfo
    state: bytes
    rootfs_type: str = "tmpfs"
    site_fs: Sequence[Bind] = ()
    volumes: Sequence[Bind] = ()
    modules: Sequence[ModuleSpec] = ()
    etc: EtcPolicy = field(default_factory=EtcPolicy)
    site_pre_mount_hook: Optional[str] = None
    site_post_mount_hook: Optional[str] = None
    opt_udi_image: Optional[str] = None
    nodespec: Optional[str] = None
    propagation_style: Literal["private", "slave"] = "private"
    writable: bool = False
    per_node_cache_path: Optional[str] = None
    per_node_cache_size_limit: int = 0
    per_node_cache_fs_types: Sequence[str] = ("xfs",)
    mkfs_xfs_path: Optional[str] = None
    allow_local_chroot: bool = False
