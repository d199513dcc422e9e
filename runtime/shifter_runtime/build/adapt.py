"""Fill a ``BuildSpec`` from the pure modules' records (config, volumes, modules, meta)."""
from __future__ import annotations

from typing import Optional, Sequence

from ..config import ModuleConfig, UdiRootConfig
from ..modules import modules_signature
from ..state import ContainerState
from ..volumes import VolumeMount, volume_signature
from .spec import (Bind, BuildSpec, EtcPolicy, ImageSource, ModuleSpec,
                   PerNodeCache, UserInfo)


def bind_of(mount: VolumeMount) -> Bind:
    """A parsed volume map entry as a ``Bind``."""
    pnc = mount.per_node_cache
    return Bind(mount.source, mount.target, ro=mount.readonly, rec=mount.recursive,
                propagation=mount.propagation,
                per_node_cache=None if pnc is None else PerNodeCache(
                    pnc.size, pnc.bs, pnc.fstype, pnc.method))


def module_of(module: ModuleConfig) -> ModuleSpec:
    """An active module's build-time parts."""
    return ModuleSpec(module.name, [bind_of(m) for m in module.site_fs], module.copy_path,
                      module.roothook)


def spec_from_config(config: UdiRootConfig, image: ImageSource, user: UserInfo,
                     volumes: Sequence[VolumeMount], modules: Sequence[ModuleConfig], *,
                     nodespec: Optional[str] = None) -> BuildSpec:
    """The ``BuildSpec`` for ``image`` and ``user`` under ``config``; the state file
    is upstream's exact ``shifterConfig.json``."""
    state = ContainerState(image.identifier, user.name, volume_signature(list(volumes)),
                           modules_signature(list(modules)))
    return BuildSpec(
        udi_mount=config.udi_mount, loop_mount=config.loop_mount, image=image, user=user,
        state=state.to_bytes(), rootfs_type=config.rootfs_type,
        site_fs=[bind_of(m) for m in config.site_fs],
        volumes=[bind_of(m) for m in volumes],
        modules=[module_of(m) for m in modules],
        etc=EtcPolicy(config.etc_path or None, config.populate_etc_dynamically,
                      tuple(config.users_to_import), config.max_group_count),
        site_pre_mount_hook=config.site_pre_mount_hook,
        site_post_mount_hook=config.site_post_mount_hook,
        opt_udi_image=config.opt_udi_image, nodespec=nodespec,
        propagation_style="slave" if config.mount_propagation_style == "slave" else "private",
        writable=config.mount_udi_root_writable,
        per_node_cache_path=config.per_node_cache_path,
        per_node_cache_size_limit=config.per_node_cache_size_limit,
        per_node_cache_fs_types=tuple(f.lower() for f in config.per_node_cache_allowed_fs_type)
        or ("xfs",),
        mkfs_xfs_path=config.mkfs_xfs_path, allow_local_chroot=config.allow_local_chroot)
