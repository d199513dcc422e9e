"""A private container for one launch, built inside the caller's user namespace.

Used when no prepared container matches.  Layout, all on one tmpfs mounted
over a staging directory (only this mount namespace sees it):

* ``image/`` -- the squashfs image served by a ``squashfuse_ll`` child through a
  FUSE connection we mount ourselves (``/dev/fuse`` fd passed as
  ``/dev/fd/N``), read-only, nosuid, nodev; the child has
  ``PR_SET_PDEATHSIG`` and holds no capability, so it ends with the launch.
  The file is checked first (a squashfs superblock, not truncated); the
  child's stderr goes to a memfd, whose first line becomes the error when the
  image cannot be served after all;
* ``site/`` -- the site layer: upstream's skeleton directories, ``/etc`` files
  and every mount target (so a missing target is simply created, and a
  symlink in the image can never redirect a site or user mount);
* ``root/`` -- one overlay mount ``lowerdir=site:image`` (site content wins,
  as upstream's copy/bind merge does), read-only unless
  ``mountUdiRootWritable`` (then an upper layer on the tmpfs);

then ``/proc``, ``/sys``, ``/dev`` (recursive), ``/tmp``, ``/var/tmp``,
``optUdiImage`` (read-only, an overlay over the site layer's ``opt/udiImage``,
so the module ``copyPath`` targets there stay visible), module ``copyPath``s
(read-only under ``/opt/udiImage/modules``), siteFs, module siteFs and the
user's volumes are bound onto ``root/``.  Root-only features (``roothook``, ``perNodeCache``, site
mount hooks) are refused, and so is a ``local:`` image that is not a directory
the user can read, or that contains the staging directory.  Errors about the
image name it (``image <type>:<tag>: ...``).
"""
from __future__ import annotations

import errno
import os
import pwd
import _signal  # the C module: ``signal`` imports enum (5 ms)
import stat

from ..config import ModuleConfig, UdiRootConfig
from ..errors import ShifterError, local_image_message
from ..state import STATE_FILE
from ..volumes import VolumeMount, check_target
from ..kernel.paths import open_in_root
from ..kernel import libc, mounts
from .etc import write_site_etc

SQUASHFUSE = ("/usr/bin/squashfuse_ll", "/usr/bin/squashfuse")
STAGING_FALLBACK = ("/mnt", "/media", "/srv")
SKELETON = ("etc", "opt", "opt/udiImage", "opt/udiImage/modules", "var",
            "var/spool", "var/run", "var/tmp", "proc", "sys", "dev", "tmp")
_FLAG_LOCKS = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC | \
    libc.MS_NOATIME | libc.MS_NODIRATIME
_ST_RELATIME = 4096
SQUASHFS_MAGIC = b"hsqs"
SUPERBLOCK_SIZE = 96  # squashfs 4 superblock; bytes_used is the u64 at offset 40


class PrivateBuildError(ShifterError):
    """The private container could not be built (one line naming what and where)."""


def _staging(config: UdiRootConfig) -> str:
    for path in (config.udi_mount, config.loop_mount, *STAGING_FALLBACK):
        if path and os.path.isdir(path):
            return path
    raise PrivateBuildError(f"no directory to build the container on ({config.udi_mount})")


def _refuse_root_features(config: UdiRootConfig, modules: list[ModuleConfig],
                          volumes: list[VolumeMount]) -> None:
    why = None
    if config.site_pre_mount_hook or config.site_post_mount_hook:
        why = "site mount hooks (sitePreMountHook/sitePostMountHook) run as root"
    for module in modules:
        if module.roothook:
            why = f"module {module.name} has a roothook"
    for vol in volumes:
        if vol.per_node_cache is not None:
            why = f"volume {vol.target}: perNodeCache needs a real loop device"
    if why:
        raise PrivateBuildError(f"{why}: this needs a container prepared by root "
                                "(setupRoot, or the Slurm --image option)")


def squashfs_problem(head: bytes, size: int) -> str | None:
    """Why a file of ``size`` bytes starting with ``head`` (its first
    :data:`SUPERBLOCK_SIZE` bytes) is no squashfs image; None if it looks like one."""
    if len(head) < SUPERBLOCK_SIZE or not head.startswith(SQUASHFS_MAGIC):
        return "not a squashfs image (no squashfs superblock)"
    used = int.from_bytes(head[40:48], "little")
    if used > size:
        return f"truncated squashfs image ({size} bytes, the superblock says {used})"
    return None


def check_local_image(path: str, base: str, reference: str, user: str) -> None:
    """A ``local:`` image must be a directory the user can read and search (as
    setupRoot words it), and cannot be an overlay layer if it contains ``base``,
    the staging directory."""
    try:
        if not stat.S_ISDIR(os.stat(path).st_mode):
            raise PrivateBuildError(local_image_message(reference, user))
    except OSError as err:
        raise PrivateBuildError(local_image_message(reference, user, err)) from None
    if not os.access(path, os.R_OK | os.X_OK):
        raise PrivateBuildError(f"image {reference}: permission denied for {user}")
    image, staging = os.path.realpath(path), os.path.realpath(base)
    if staging == image or staging.startswith(image.rstrip("/") + "/"):
        raise PrivateBuildError(f"image {reference}: contains {base}, where a private "
                                "container is built: use a container prepared by root "
                                "(setupRoot, or the Slurm path)")


def _unopenable(reference: str, path: str, err: OSError) -> str:
    """The error line for an image file that cannot be opened."""
    if err.errno == errno.ENOENT:
        return f"image {reference}: {path} is missing (its .meta is there)"
    if err.errno in (errno.EACCES, errno.EPERM):
        return (f"image {reference}: {path}: {err.strerror}: a private image can only be "
                "used through a container prepared by root (the Slurm path)")
    return f"image {reference}: {path}: {err.strerror}"


def open_image(path: str, reference: str) -> int:
    """The squashfs image file, opened and checked; errors name the image as ``reference``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise PrivateBuildError(_unopenable(reference, path, err)) from None
    try:
        problem = squashfs_problem(os.pread(fd, SUPERBLOCK_SIZE, 0), os.fstat(fd).st_size)
    except OSError as err:
        problem = err.strerror
    if problem:
        os.close(fd)
        raise PrivateBuildError(f"image {reference}: {path}: {problem}")
    return fd


def start_squashfuse(image_fd: int, mountpoint: str, uid: int, gid: int) -> tuple[int, int]:
    """Mount a FUSE connection on ``mountpoint`` and serve it with squashfuse; return its
    pid and a memfd holding what it writes to stderr."""
    try:
        fuse_fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise PrivateBuildError(f"/dev/fuse: {err.strerror}: a container without setupRoot "
                                "needs FUSE for users (ask the site)") from None
    err_fd = os.memfd_create("squashfuse-stderr", os.MFD_CLOEXEC)
    try:
        libc.mount("squashfuse", mountpoint, "fuse.squashfuse",
                   libc.MS_NOSUID | libc.MS_NODEV | libc.MS_RDONLY,
                   f"fd={fuse_fd},rootmode=40000,user_id={uid},group_id={gid}")
        binary = next((b for b in SQUASHFUSE if os.access(b, os.X_OK)), SQUASHFUSE[0])
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # child: die with the launch, serve the image
            try:
                libc.prctl(libc.PR_SET_PDEATHSIG, 9)
                if os.getppid() != parent:
                    os._exit(1)
                os.set_inheritable(fuse_fd, True)
                os.set_inheritable(image_fd, True)
                os.dup2(err_fd, 2)
                os.execv(binary, [binary, "-f", f"/dev/fd/{image_fd}", f"/dev/fd/{fuse_fd}"])
            finally:
                os._exit(127)
        return pid, err_fd
    except BaseException:
        os.close(err_fd)
        raise
    finally:
        os.close(fuse_fd)


def squashfuse_failure(pid: int, err_fd: int) -> str | None:
    """Stop squashfuse (the mount it serves failed) and return the first line it wrote."""
    os.kill(pid, _signal.SIGKILL)
    os.waitpid(pid, 0)
    lines = os.pread(err_fd, 4096, 0).decode(errors="replace").strip().splitlines()
    return lines[0] if lines else None


def _mount_root(config: UdiRootConfig, base: str, image_fd: int, image_path: str,
                user: pwd.struct_passwd, reference: str) -> None:
    """Serve the image on ``base/image`` and mount the overlay on ``base/root``;
    a failure names the image (and squashfuse's own complaint, if any)."""
    fuse: tuple[int, int] | None = None
    try:
        if image_fd >= 0:
            fuse = start_squashfuse(image_fd, f"{base}/image", user.pw_uid, user.pw_gid)
        else:  # local: a directory (allowLocalChroot)
            _bind(image_path, f"{base}/image", ro=True, rec=True)
        options = f"lowerdir={base}/site:{base}/image,userxattr"
        ro = 0 if config.mount_udi_root_writable else libc.MS_RDONLY
        if not ro:
            options += f",upperdir={base}/upper,workdir={base}/work"
        libc.mount("overlay", f"{base}/root", "overlay", libc.MS_NOSUID | libc.MS_NODEV | ro,
                   options)
    except OSError as err:
        said = squashfuse_failure(*fuse) if fuse else None
        why = f"{image_path}: squashfuse: {said}" if said else err.strerror
        raise PrivateBuildError(f"image {reference}: {why}") from None
    finally:
        if image_fd >= 0:
            os.close(image_fd)
        if fuse:
            os.close(fuse[1])


def _bind(source: str, target: str, *, ro: bool = False, rec: bool = False,
          dev: bool = False, propagation: str | None = None) -> None:
    """Bind ``source`` on ``target``: always nosuid, nodev unless ``dev``.

    A plain bind of a host directory with mounts below it is refused in a user
    namespace (it would reveal what those mounts cover), so then it is recursive.
    """
    try:
        libc.mount(source, target, None, libc.MS_BIND | (libc.MS_REC if rec else 0))
    except OSError as err:
        if rec or err.errno != errno.EINVAL:
            raise
        rec = True
        libc.mount(source, target, None, libc.MS_BIND | libc.MS_REC)
    locked = os.statvfs(target).f_flag
    flags = (locked & _FLAG_LOCKS) | libc.MS_NOSUID
    flags |= libc.MS_RELATIME if locked & _ST_RELATIME else 0
    flags |= 0 if dev else libc.MS_NODEV
    flags |= libc.MS_RDONLY if ro else 0
    libc.mount(None, target, None, libc.MS_BIND | libc.MS_REMOUNT | flags)
    if rec:
        _flag_submounts(target, ro=ro, dev=dev)
    if propagation:
        kind = libc.MS_SLAVE if propagation == "slave" else libc.MS_PRIVATE
        libc.mount(None, target, None, kind | (libc.MS_REC if rec else 0))


def _flag_submounts(target: str, *, ro: bool, dev: bool) -> None:
    """nosuid (nodev unless ``dev``, ro if asked) on every mount of a recursive bind: the
    remount reaches its top only, and the submounts copied from the host keep their own
    flags.  ``mount_setattr(2)`` may add flags to mounts locked in the user namespace."""
    attrs = mounts.MOUNT_ATTR_NOSUID | (0 if dev else mounts.MOUNT_ATTR_NODEV)
    attrs |= mounts.MOUNT_ATTR_RDONLY if ro else 0
    fd = os.open(target, os.O_PATH | os.O_CLOEXEC)
    try:
        mounts.mount_setattr(fd, attrs, rec=True, path=target)
    finally:
        os.close(fd)


def _make_target(site: str, target: str) -> None:
    """Create ``target`` as a directory of the site layer (shadowing whatever the image has)."""
    os.makedirs(site + target, mode=0o755, exist_ok=True)


def _resolved_target(root: str, root_fd: int, vol: VolumeMount, user_map: bool) -> str:
    """The target resolved inside the container (symlinks stay in it), checked again."""
    try:
        fd = open_in_root(root_fd, vol.target, os.O_PATH | os.O_DIRECTORY)
    except OSError as err:
        raise PrivateBuildError(f"volume {vol.source}:{vol.target}: target: "
                                f"{os.strerror(err.errno)} in the container") from None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    inside = real[len(root):] or "/"
    if real != root and not real.startswith(root + "/"):
        raise PrivateBuildError(f"volume {vol.source}:{vol.target}: target leaves the container")
    check_target(inside, site=not user_map, entry=f"{vol.source}:{vol.target}")
    return root + inside


def _bind_volume(root: str, root_fd: int, vol: VolumeMount, user_map: bool,
                 style: str) -> None:
    """Bind one siteFs/user volume on its target resolved inside the container; a user
    volume's source is resolved inside the container too (upstream)."""
    target = _resolved_target(root, root_fd, vol, user_map)
    if user_map:
        try:
            src_fd = open_in_root(root_fd, vol.source, os.O_PATH | os.O_DIRECTORY)
        except OSError as err:
            raise PrivateBuildError(
                f"volume {vol.source}:{vol.target}: source {vol.source}: "
                f"{os.strerror(err.errno)} in the container") from None
        source = f"/proc/self/fd/{src_fd}"
    else:
        src_fd, source = -1, vol.source
    try:
        _bind(source, target, ro=vol.readonly, rec=vol.recursive,
              propagation=vol.propagation or style)
    except OSError as err:
        raise PrivateBuildError(f"volume {vol.source}:{vol.target}: {err.strerror}") from None
    finally:
        if src_fd >= 0:
            os.close(src_fd)


def _bind_system(root: str, reference: str) -> None:
    """Bind ``/proc``, ``/sys``, ``/dev``, ``/tmp`` and ``/var/tmp`` onto the root; their
    targets are looked up through the image too, so a failure names it."""
    binds = [("/proc", True, False), ("/sys", True, False), ("/dev", True, True),
             ("/tmp", False, False)]
    if os.path.isdir("/var/tmp"):
        binds.append(("/var/tmp", False, False))
    for path, rec, dev in binds:
        try:
            _bind(path, root + path, rec=rec, dev=dev)
        except OSError as err:
            raise PrivateBuildError(f"image {reference}: {path}: {err.strerror}") from None


def _mount_opt_udi_image(source: str, base: str) -> None:
    """``optUdiImage`` on ``/opt/udiImage``, read-only, as an overlay over the site
    layer's ``opt/udiImage``: a bind would hide the module copyPath targets there."""
    os.mkdir(f"{base}/optudi", 0o755)
    _bind(source, f"{base}/optudi", ro=True)
    libc.mount("overlay", f"{base}/root/opt/udiImage", "overlay",
               libc.MS_NOSUID | libc.MS_NODEV | libc.MS_RDONLY,
               f"lowerdir={base}/site/opt/udiImage:{base}/optudi,userxattr")


def build_private(config: UdiRootConfig, image_path: str, image_format: str,
                  user: pwd.struct_passwd, modules: list[ModuleConfig],
                  volumes: list[VolumeMount], state: bytes, *, reference: str) -> str:
    """Build the container (caller is already in its user + mount namespace); return its root.

    ``state`` is written as ``var/shifterConfig.json``, as upstream does;
    ``reference`` names the image in errors.
    """
    _refuse_root_features(config, modules, volumes)
    if image_format not in ("squashfs", "VFS"):
        raise PrivateBuildError(f"image {image_path}: format {image_format} can only be mounted "
                                "by root (setupRoot, or the Slurm --image option)")
    base = _staging(config)
    if image_format == "VFS":
        check_local_image(image_path, base, reference, user.pw_name)
        image_fd = -1
    else:
        image_fd = open_image(image_path, reference)
    try:  # _mount_root closes image_fd; a failure before it closes it here
        libc.mount("shifter", base, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "mode=0755")
        site, root = f"{base}/site", f"{base}/root"
        for name in ("site", "image", "root", "upper", "work"):
            os.mkdir(f"{base}/{name}", 0o755)
        for name in SKELETON:
            os.mkdir(f"{site}/{name}", 0o755)
        os.chmod(f"{site}/tmp", 0o1777)
        write_site_etc(config, user, f"{site}/etc")
        with open(f"{site}/{STATE_FILE}", "wb") as f:
            f.write(state)
        site_fs = [*config.site_fs, *(v for m in modules for v in m.site_fs)]
        for vol in (*site_fs, *volumes):
            _make_target(site, vol.target)
        copies = [(f"/opt/udiImage/modules/{m.name}", m.copy_path)
                  for m in modules if m.copy_path]
        for target, _ in copies:
            _make_target(site, target)
    except BaseException:
        if image_fd >= 0:
            os.close(image_fd)
        raise
    _mount_root(config, base, image_fd, image_path, user, reference)
    _bind_system(root, reference)
    if config.opt_udi_image:
        _mount_opt_udi_image(config.opt_udi_image, base)
    for target, source in copies:
        _bind(source, root + target, ro=True)
    style = config.mount_propagation_style
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for vol in site_fs:
            _bind_volume(root, root_fd, vol, False, style)
        for vol in volumes:
            _bind_volume(root, root_fd, vol, True, style)
    finally:
        os.close(root_fd)
    return root
