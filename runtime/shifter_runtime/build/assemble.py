"""``build_container``: upstream's construction order (inventory §3.4), step by step."""
from __future__ import annotations

import os

from ..kernel import mounts
from ..state import STATE_FILE
from . import etc_setup
from .binds import mount_site, mount_user
from .image_mount import make_mount_point, mount_image, open_local_image
from .merge import merge_image
from .rootfs import RootFs, copy_tree, make_readable
from .spec import BuildError, BuildSpec
from .teardown import is_mounted, unmount_all

SKELETON = (("etc", 0o755), ("etc/udiImage", 0o755), ("opt", 0o755), ("opt/udiImage", 0o755),
            ("opt/udiImage/modules", 0o755), ("var", 0o755), ("var/spool", 0o755),
            ("var/run", 0o755), ("var/tmp", 0o755), ("var/empty", 0o700), ("proc", 0o755),
            ("sys", 0o755), ("dev", 0o755), ("tmp", 0o777))
ROOTFS_TYPES = ("tmpfs", "ramfs")


def build_container(spec: BuildSpec) -> None:
    """Build the container on ``spec.udi_mount``; on any failure undo everything
    made so far and raise ``BuildError`` with a one-line message.  Tear it down
    with ``destroy_container``."""
    if spec.image.format == "VFS" and not spec.allow_local_chroot:
        raise BuildError(f"image local:{spec.image.path}: local images need allowLocalChroot=1")
    if spec.rootfs_type not in ROOTFS_TYPES:
        raise BuildError(f"rootfsType={spec.rootfs_type}: must be tmpfs or ramfs")
    for busy in (spec.udi_mount, spec.loop_mount):
        if is_mounted(busy):
            raise BuildError(f"{busy} is already in use by a container (run unsetupRoot)")
    local = open_local_image(spec.image, spec.user) if spec.image.format == "VFS" else None
    old_umask = os.umask(0o022)
    try:
        _build_root(spec, f"/proc/self/fd/{local}" if local is not None
                    else mount_image(spec.image, spec.loop_mount))
    except BaseException as exc:
        unmount_all(spec.udi_mount, spec.loop_mount)
        if isinstance(exc, OSError):
            raise BuildError(f"building {spec.udi_mount}: {exc.strerror}"
                             f"{' (' + exc.filename + ')' if exc.filename else ''}") from None
        raise
    finally:
        os.umask(old_umask)
        if local is not None:
            os.close(local)


def _build_root(spec: BuildSpec, image: str) -> None:
    make_mount_point(spec.udi_mount, "udiMount")
    _mount_rootfs(spec)
    root = RootFs(spec.udi_mount)
    try:
        _site_modifications(spec, root)
        before = mounts.mount_ids_under(spec.udi_mount)
        local = spec.user if spec.image.format == "VFS" else None
        for subdir in ("/", "/var", "/opt"):
            merge_image(root, image, subdir, copy=False, as_user=local)
        root.mkdir("/etc/ssh")
        merge_image(root, image, "/etc", copy=True, as_user=local)
        # The container's own mounts (not devices: a siteFs on /tmp's file system is
        # not /tmp): its tmpfs, its /tmp and the image's binds.
        tmp = root.open("/tmp")
        try:
            allowed = {mounts.mount_id(root.fd), mounts.mount_id(tmp)}
        finally:
            os.close(tmp)
        allowed |= mounts.mount_ids_under(spec.udi_mount) - before
        mount_user(root, spec, allowed)
        root.write(f"/{STATE_FILE}", spec.state)
        if not spec.writable:
            mounts.mount_setattr(root.fd, mounts.MOUNT_ATTR_RDONLY, rec=False)
    finally:
        root.close()


def _mount_rootfs(spec: BuildSpec) -> None:
    fd = os.open(spec.udi_mount, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        options = {"mode": "0755"} if spec.rootfs_type == "tmpfs" else {}
        mounts.mount_new(spec.rootfs_type, fd, mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV,
                         options)
    finally:
        os.close(fd)
    if spec.rootfs_type == "ramfs":
        os.chmod(spec.udi_mount, 0o755)


def _site_modifications(spec: BuildSpec, root: RootFs) -> None:
    """Upstream ``prepareSiteModifications``, in its order."""
    for path, mode in SKELETON:
        root.mkdir(path, mode)
    _hook(spec, spec.site_pre_mount_hook, "sitePreMountHook")
    mount_site(root, spec.site_fs, spec.propagation_style)
    _hook(spec, spec.site_post_mount_hook, "sitePostMountHook")
    for module in spec.modules:
        mount_site(root, module.site_fs, spec.propagation_style, f"module {module.name} siteFs")
    root.symlink("/proc/mounts", "/etc/mtab")
    etc_setup.copy_host_files(root)
    etc_setup.make_account_files(root, spec.user, spec.etc)
    _copy_udi_image(spec, root)
    if spec.nodespec is not None:
        etc_setup.write_hostsfile(root, spec.nodespec)
    for module in spec.modules:
        _hook(spec, module.roothook, f"module {module.name} roothook")
    _kernel_filesystems(spec, root)


def _hook(spec: BuildSpec, hook: str | None, what: str) -> None:
    if not hook:
        return
    import subprocess
    ran = subprocess.run(["/bin/sh", hook], cwd=spec.udi_mount, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    if ran.returncode != 0:
        last = (ran.stderr.strip().splitlines() or [""])[-1]
        raise BuildError(f"{what} {hook} failed with exit {ran.returncode}"
                         f"{': ' + last if last else ''}")


def _copy_udi_image(spec: BuildSpec, root: RootFs) -> None:
    dst = root.open("/opt/udiImage", os.O_RDONLY | os.O_DIRECTORY, follow=False)
    try:
        if spec.opt_udi_image:
            _copy_dir_into(spec.opt_udi_image, dst, "optUdiImage")
        for module in spec.modules:
            if module.copy_path:
                os.mkdir(f"modules/{module.name}", 0o755, dir_fd=dst)
                sub = os.open(f"modules/{module.name}", os.O_RDONLY | os.O_DIRECTORY
                              | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
                try:
                    _copy_dir_into(module.copy_path, sub, f"module {module.name} copyPath")
                finally:
                    os.close(sub)
        make_readable(dst)
    finally:
        os.close(dst)


def _copy_dir_into(source: str, dst_fd: int, what: str) -> None:
    try:
        src = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BuildError(f"{what} {source}: {exc.strerror}") from None
    try:
        copy_tree(src, dst_fd, skip_existing=True)
    finally:
        os.close(src)


def _kernel_filesystems(spec: BuildSpec, root: RootFs) -> None:
    """A fresh ``/proc``; ``/sys``, ``/dev``, ``/tmp``, ``/var/tmp`` bound from the host."""
    proc = root.open("/proc")
    try:
        mounts.mount_new("proc", proc, mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV
                         | mounts.MOUNT_ATTR_NOEXEC)
    finally:
        os.close(proc)
    root.bind("/sys", "/sys", rec=True)
    root.bind("/dev", "/dev", rec=True, nodev=False)
    root.bind("/tmp", "/tmp")
    if os.path.isdir("/var/tmp"):
        root.bind("/var/tmp", "/var/tmp")

