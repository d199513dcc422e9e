"""Site (siteFs) and user (--volume) bind mounts into the container root."""
from __future__ import annotations

import os
import stat
from typing import Sequence

from ..errors import VolumeError
from ..kernel import creds, loop, mounts
from ..volumes import check_target
from .rootfs import RootFs
from .spec import Bind, BuildError, BuildSpec, PerNodeCache, UserInfo


def _check_resolved(real: str | None, site: bool, where: str) -> None:
    """Apply the volume target rules again to where the target really resolved."""
    if real is None:
        raise BuildError(f"{where}: target resolves outside the container")
    try:
        check_target(real, site)
    except VolumeError as err:
        raise BuildError(f"{where}: target resolves to {real}: {err}") from None


def _where(kind: str, bind: Bind) -> str:
    return f"{kind} {bind.source}:{bind.target}"


def ensure_target(root: RootFs, path: str, *, directory: bool, where: str) -> int:
    """Open the container ``path``, creating missing components (directories, or an
    empty file at the end) only where the parent lies on the container's own tmpfs."""
    try:
        return root.open(path)
    except FileNotFoundError:
        pass
    parts = [p for p in path.split("/") if p]
    current = "/"
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        pfd = root.open(current, os.O_PATH | os.O_DIRECTORY)
        try:
            exists = _exists_at(pfd, part)
            if not exists:
                if os.fstat(pfd).st_dev != root.dev:
                    raise BuildError(f"{where}: cannot create mount point {path}: "
                                     f"{root.relpath(pfd)} is not on the container's tmpfs")
                if directory or not last:
                    os.mkdir(part, 0o755, dir_fd=pfd)
                else:
                    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644, dir_fd=pfd))
        finally:
            os.close(pfd)
        current = current.rstrip("/") + "/" + part
    return root.open(path)


def _exists_at(dirfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def mount_site(root: RootFs, binds: Sequence[Bind], style: str, kind: str = "siteFs") -> None:
    """siteFs: host ``source`` on container ``target`` (target made on the tmpfs)."""
    for bind in binds:
        where = _where(kind, bind)
        try:
            is_dir = stat.S_ISDIR(os.stat(bind.source).st_mode)
        except OSError as exc:
            raise BuildError(f"{where}: source: {exc.strerror}") from None
        tfd = ensure_target(root, bind.target, directory=is_dir, where=where)
        try:
            _check_resolved(root.relpath(tfd), True, where)
            mounts.bind(bind.source, tfd, rec=bind.rec, ro=bind.ro,
                        nodev=not _is_dev(bind.source),
                        propagation=bind.propagation or style)
        except OSError as exc:
            raise BuildError(f"{where}: bind mount failed: {exc.strerror}") from None
        finally:
            os.close(tfd)


def _is_dev(source: str) -> bool:
    real = os.path.realpath(source)
    return real == "/dev" or real.startswith("/dev/")


def mount_user(root: RootFs, spec: BuildSpec, allowed_mounts: set[int]) -> None:
    """User volumes: the source is resolved inside the container, as the user; the target
    must resolve to an allowed place (made on the tmpfs if missing) and be a directory on
    one of ``allowed_mounts`` (mount IDs: the tmpfs, the image, /tmp), or owned by the
    user."""
    user = spec.user
    for bind in spec.volumes:
        where = _where("volume", bind)
        tfd = ensure_target(root, bind.target, directory=True, where=where)
        try:
            real = root.relpath(tfd)
            _check_resolved(real, False, where)
            st = os.fstat(tfd)
            if not stat.S_ISDIR(st.st_mode):
                raise BuildError(f"{where}: target {real} is not a directory")
            if mounts.mount_id(tfd) not in allowed_mounts and st.st_uid != user.uid:
                raise BuildError(f"{where}: target {real} is not on the container's own "
                                 "filesystems and not owned by the user")
            if bind.per_node_cache is not None:
                mount_per_node_cache(root, spec, bind.per_node_cache, tfd, where)
            else:
                _bind_as_user(root, bind, tfd, user, spec.propagation_style, where)
        finally:
            os.close(tfd)


def _bind_as_user(root: RootFs, bind: Bind, tfd: int, user: UserInfo, style: str,
                  where: str) -> None:
    try:
        with creds.fs_identity(user.uid, user.gid, user.gids or [user.gid]):
            sfd = root.open(bind.source, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BuildError(f"{where}: source {bind.source} in the container: "
                         f"{exc.strerror}") from None
    try:
        if root.relpath(sfd) is None:
            raise BuildError(f"{where}: source resolves outside the container")
        mounts.bind("", tfd, source_dirfd=sfd, rec=bind.rec, ro=bind.ro,
                    propagation=bind.propagation or style)
    except OSError as exc:
        raise BuildError(f"{where}: bind mount failed: {exc.strerror}") from None
    finally:
        os.close(sfd)


def mount_per_node_cache(root: RootFs, spec: BuildSpec, cache: PerNodeCache, tfd: int,
                         where: str) -> None:
    """A fresh XFS of ``cache.size`` bytes on a loop device, owned by the user; the
    backing file is unlinked at once so it vanishes with the mount."""
    import socket
    import tempfile
    user = spec.user
    if cache.fstype not in spec.per_node_cache_fs_types:
        raise BuildError(f"{where}: perNodeCache fs {cache.fstype!r} not allowed "
                         f"(perNodeCacheAllowedFsType={' '.join(spec.per_node_cache_fs_types)})")
    if spec.per_node_cache_size_limit and cache.size > spec.per_node_cache_size_limit:
        raise BuildError(f"{where}: perNodeCache size {cache.size} exceeds "
                         f"perNodeCacheSizeLimit={spec.per_node_cache_size_limit}")
    if not spec.per_node_cache_path or user.uid == 0 or user.gid == 0:
        raise BuildError(f"{where}: perNodeCache needs perNodeCachePath and a non-root user")
    prefix = f"perNodeCache_uid{user.uid}_gid{user.gid}_{socket.gethostname()}.{cache.fstype}."
    try:
        fd, backing = tempfile.mkstemp(prefix=prefix, dir=spec.per_node_cache_path)
    except OSError as exc:
        raise BuildError(f"{where}: perNodeCachePath {spec.per_node_cache_path}: "
                         f"{exc.strerror}") from None
    try:
        try:
            os.ftruncate(fd, cache.size)
        finally:
            os.close(fd)
        _make_xfs(spec.mkfs_xfs_path, backing, where)
        device = loop.attach_loop(backing, read_only=False)
        try:
            tree = mounts.new_fs(cache.fstype, {"source": device.path},
                                 mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV)
        finally:
            device.close()
        try:
            # Given to the user through the detached mount, before it is attached: the
            # target's path may run through the user's directories (in /tmp).
            top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=tree)
            try:
                os.fchown(top, user.uid, user.gid)
                os.fchmod(top, 0o755)
            finally:
                os.close(top)
            mounts.attach(tree, tfd, "private", rec=False)
        finally:
            os.close(tree)
    except OSError as exc:
        raise BuildError(f"{where}: perNodeCache: {exc.strerror}") from None
    finally:
        os.unlink(backing)


def _make_xfs(program: str | None, backing: str, where: str) -> None:
    """Format ``backing`` with ``mkfsXfsPath`` (else ``mkfs.xfs`` from PATH); a failure
    reports the program, or mkfs's first stderr line (the rest is its usage text)."""
    import subprocess
    mkfs = program or "mkfs.xfs"
    try:
        made = subprocess.run([mkfs, "-q", "-f", backing], capture_output=True, text=True,
                              errors="replace")
    except OSError as exc:
        what = f"mkfsXfsPath {program}" if program else "mkfs.xfs (mkfsXfsPath unset)"
        raise BuildError(f"{where}: {what}: {exc.strerror}") from None
    if made.returncode != 0:
        lines = [line.strip() for line in made.stderr.splitlines() if line.strip()]
        why = lines[0] if lines else f"exit status {made.returncode}"
        raise BuildError(f"{where}: {mkfs} failed: {why}")
