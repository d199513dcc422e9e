"""Atomic publication of ``<id>.squashfs`` and ``<id>.meta`` into the image directory.

Each file is written under a hidden temporary name in the target directory, given its final
permissions (public: 0644; private: 0640 plus POSIX ACL entries for the ACL users/groups), then
renamed into place: readers see a complete file or none.  The image goes first and the meta
second, so an existing ``.meta`` always means a complete image.
"""
from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .metafile import ImageMeta

# LocalPublisher's temporary names: ``.<id>.<squashfs|meta>.<mkstemp's 8 chars>.partial``
PARTIAL_NAME = re.compile(r"\.[0-9a-f]+\.\w+\.\w{8}\.partial")
# A ``.partial`` file this old belongs to no live publish: a killed gateway left it.
PARTIAL_GRACE_S = 3600


class PublishError(Exception):
    """The image could not be published (nothing was left behind)."""


def acl_spec(meta: ImageMeta) -> str:
    """``setfacl -m`` argument granting read to the ACL users and groups."""
    entries = [f"u:{int(u)}:r" for u in meta.user_acl] + [f"g:{int(g)}:r" for g in meta.group_acl]
    return ",".join(entries)


def file_mode(meta: ImageMeta) -> int:
    return 0o640 if meta.private else 0o644


class Publisher:
    """Where images go: ``exists``, ``publish`` (image + meta) and ``publish_meta``."""

    def image_path(self, image_id: str) -> Path:
        raise NotImplementedError

    def exists(self, image_id: str) -> bool:
        raise NotImplementedError

    def publish(self, image_id: str, image: Path, meta: ImageMeta, *, expand_dir: Path) -> tuple[Path, Path]:
        raise NotImplementedError

    def publish_meta(self, image_id: str, meta: ImageMeta, *, expand_dir: Path) -> Path:
        raise NotImplementedError

    def remove(self, image_id: str) -> None:
        raise NotImplementedError


@dataclass
class LocalPublisher(Publisher):
    image_dir: Path
    fmt: str = "squashfs"

    def image_path(self, image_id: str) -> Path:
        return self.image_dir / f"{image_id}.{self.fmt}"

    def meta_path(self, image_id: str) -> Path:
        return self.image_dir / f"{image_id}.meta"

    def exists(self, image_id: str) -> bool:
        return self.image_path(image_id).is_file() and self.meta_path(image_id).is_file()

    def publish(self, image_id: str, image: Path, meta: ImageMeta, *, expand_dir: Path) -> tuple[Path, Path]:
        self.image_dir.mkdir(parents=True, exist_ok=True)
        final = self.image_path(image_id)
        tmp = self._tmpname(final)
        try:
            try:
                os.rename(image, tmp)
            except OSError as err:
                if err.errno != errno.EXDEV:
                    raise
                shutil.copyfile(image, tmp)
            self._finish(tmp, final, meta)
        except BaseException:
            _unlink(tmp)
            raise
        try:
            meta_path = self.publish_meta(image_id, meta, expand_dir=expand_dir)
        except BaseException:
            _unlink(final)
            raise
        return final, meta_path

    def publish_meta(self, image_id: str, meta: ImageMeta, *, expand_dir: Path) -> Path:
        self.image_dir.mkdir(parents=True, exist_ok=True)
        final = self.meta_path(image_id)
        tmp = self._tmpname(final)
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(meta.render())
            self._finish(tmp, final, meta)
            image = self.image_path(image_id)
            if image.exists():
                _set_permissions(image, meta)      # ACL change on an existing image
        except BaseException:
            _unlink(tmp)
            raise
        return final

    def remove(self, image_id: str) -> None:
        _unlink(self.meta_path(image_id))
        _unlink(self.image_path(image_id))

    def _tmpname(self, final: Path) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=self.image_dir)
        os.close(fd)
        return Path(name)

    def _finish(self, tmp: Path, final: Path, meta: ImageMeta) -> None:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _set_permissions(tmp, meta)
        os.replace(tmp, final)
        fd = os.open(self.image_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _set_permissions(path: Path, meta: ImageMeta) -> None:
    """Mode, then the ACL (replacing any previous one) for a private image."""
    os.chmod(path, file_mode(meta))
    if shutil.which("setfacl") is None:
        if meta.private:
            raise PublishError("setfacl is not installed: cannot restrict a private image to its ACL")
        return
    cmd = ["setfacl", "-b", str(path)] if not meta.private else ["setfacl", "--set",
                                                                   f"u::rw,g::r,o::-,{acl_spec(meta)}", str(path)]
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if res.returncode != 0:
        if not meta.private:
            return                               # no ACL support and nothing to restrict
        raise PublishError(f"setfacl on {path}: {res.stderr.decode(errors='replace').strip()}")


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@dataclass
class RemotePublisher(Publisher):
    """``accesstype: remote``: ssh/scp with a key to ``username@host:imageDir`` (upstream's transfer)."""
    host: str
    username: str
    image_dir: str
    key: str | None = None
    ssh_options: list[str] = field(default_factory=list)
    scp_options: list[str] = field(default_factory=list)
    fmt: str = "squashfs"

    @classmethod
    def from_config(cls, platform: dict) -> "RemotePublisher":
        """Build from a ``Platforms.<s>`` entry with ``host`` (first used) and ``ssh`` keys."""
        ssh = platform.get("ssh") or {}
        hosts = platform.get("host") or []
        if isinstance(hosts, str):
            hosts = [hosts]
        missing = [k for k, v in (("host", hosts), ("ssh.username", ssh.get("username")),
                                  ("ssh.imageDir", ssh.get("imageDir"))) if not v]
        if missing:
            raise PublishError(f"remote platform: missing {', '.join(missing)}")

        def opts(value) -> list[str]:
            return value.split() if isinstance(value, str) else list(value or [])
        return cls(hosts[0], ssh["username"], ssh["imageDir"], ssh.get("key"), opts(ssh.get("sshCmdOptions")),
                   opts(ssh.get("scpCmdOptions")))

    def image_path(self, image_id: str) -> Path:
        return Path(self.image_dir) / f"{image_id}.{self.fmt}"

    def _ssh(self, script: str) -> subprocess.CompletedProcess:
        cmd = ["ssh", "-o", "BatchMode=yes", *(["-i", self.key] if self.key else []), *self.ssh_options,
               f"{self.username}@{self.host}", script]
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def _check(self, res: subprocess.CompletedProcess, what: str) -> None:
        if res.returncode != 0:
            msg = res.stderr.decode(errors="replace").strip().splitlines()
            raise PublishError(f"{what} on {self.host}: {msg[-1] if msg else f'exit {res.returncode}'}")

    def exists(self, image_id: str) -> bool:
        d = shlex.quote(self.image_dir)
        res = self._ssh(f"test -f {d}/{image_id}.{self.fmt} -a -f {d}/{image_id}.meta")
        if res.returncode == 255:                         # ssh itself failed, not the test
            self._check(res, "checking for the image")
        return res.returncode == 0

    def _put(self, local: Path, name: str, meta: ImageMeta) -> Path:
        final = f"{self.image_dir}/{name}"
        tmp = f"{self.image_dir}/.{name}.{os.getpid()}.{os.urandom(4).hex()}.partial"
        cmd = ["scp", "-q", "-B", *(["-i", self.key] if self.key else []), *self.scp_options, str(local),
               f"{self.username}@{self.host}:{tmp}"]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        q_tmp, q_final = shlex.quote(tmp), shlex.quote(final)
        if res.returncode == 0:
            acl = f" && setfacl --set u::rw,g::r,o::-,{acl_spec(meta)} {q_tmp}" if meta.private else ""
            res = self._ssh(f"chmod {file_mode(meta):o} {q_tmp}{acl} && mv -f {q_tmp} {q_final}"
                            f" && {self._sweep_command()}")
        if res.returncode != 0:
            self._ssh(f"rm -f {q_tmp}")
            self._check(res, f"copying {name}")
        return Path(final)

    def _sweep_command(self) -> str:
        """Shell that removes the ``.partial`` files a killed gateway left in imageDir (the
        start-up sweep covers local dirs only), never failing the publish it follows."""
        return (f"{{ find {shlex.quote(self.image_dir)} -maxdepth 1 -type f -name '.*.partial' "
                f"-mmin +{PARTIAL_GRACE_S // 60} -delete 2>/dev/null; true; }}")

    def publish(self, image_id: str, image: Path, meta: ImageMeta, *, expand_dir: Path) -> tuple[Path, Path]:
        final = self._put(image, f"{image_id}.{self.fmt}", meta)
        try:
            return final, self.publish_meta(image_id, meta, expand_dir=expand_dir)
        except PublishError:
            self._ssh(f"rm -f {shlex.quote(str(final))}")
            raise

    def publish_meta(self, image_id: str, meta: ImageMeta, *, expand_dir: Path) -> Path:
        fd, local = tempfile.mkstemp(prefix=f"{image_id[:16]}.", suffix=".meta", dir=expand_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(meta.render())
            return self._put(Path(local), f"{image_id}.meta", meta)
        finally:
            _unlink(Path(local))

    def remove(self, image_id: str) -> None:
        d = shlex.quote(self.image_dir)
        self._check(self._ssh(f"rm -f {d}/{image_id}.meta {d}/{image_id}.{self.fmt}"), "removing the image")

