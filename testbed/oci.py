"""Deterministic image building blocks: layer tars, blobs, configs, manifests.

Blobs live in a content-addressed store ``<cache>/blobs/sha256/<hex>``.  Layers
are written with fixed owners, times and gzip headers, so the same input always
gives the same digests (image ids stay stable across runs).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from testbed.paths import cache_dir

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MTIME = 1700000000  # fixed timestamp of every entry we synthesise
CREATED = "2023-11-14T22:13:20Z"


@dataclass(frozen=True)
class Entry:
    """One tar member: kind is file, dir, symlink or hardlink (target = path or link)."""

    path: str
    kind: str = "file"
    mode: int = 0o644
    data: bytes = b""
    target: str = ""


def file(path: str, data: bytes | str, mode: int = 0o644) -> Entry:
    return Entry(path, "file", mode, data.encode() if isinstance(data, str) else data)


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(path, "dir", mode)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", 0o777, target=target)


def hardlink(path: str, target: str) -> Entry:
    return Entry(path, "hardlink", 0o644, target=target)


@dataclass(frozen=True)
class Layer:
    """A stored gzip layer blob with the digest of its uncompressed tar."""

    digest: str
    size: int
    diff_id: str


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes what passes through to ``sink``."""

    def __init__(self, sink: BinaryIO):
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)


def blob_path(digest: str) -> Path:
    """Where the blob ``sha256:<hex>`` is stored."""
    return cache_dir("blobs", "sha256") / digest.split(":", 1)[1]


def put_blob(data: bytes) -> tuple[str, int]:
    """Store ``data``; return (digest, size)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(digest)
    if not path.exists():
        _atomic_write(path, data)
    return digest, len(data)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class LayerWriter:
    """Write a gzip tar layer straight into the blob store.

    Use as a context manager; ``tar`` is a streaming :class:`tarfile.TarFile`
    and ``layer`` is set on exit.
    """

    def __init__(self, level: int = 6):
        self.level = level
        self.layer: Layer | None = None

    def __enter__(self) -> "LayerWriter":
        store = cache_dir("blobs", "sha256")
        fd, self._tmp = tempfile.mkstemp(dir=store, prefix=".layer-")
        self._raw = os.fdopen(fd, "wb")
        self._packed = _Hashing(self._raw)
        self._gz = gzip.GzipFile(filename="", fileobj=self._packed, mode="wb", compresslevel=self.level, mtime=0)
        self._plain = _Hashing(self._gz)
        self.tar = tarfile.open(fileobj=self._plain, mode="w|", format=tarfile.PAX_FORMAT)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.tar.close()
        self._gz.close()
        self._raw.close()
        if exc_type is not None:
            os.unlink(self._tmp)
            return
        digest = "sha256:" + self._packed.sha.hexdigest()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, blob_path(digest))
        self.layer = Layer(digest, self._packed.size, "sha256:" + self._plain.sha.hexdigest())

    def add(self, entry: Entry) -> None:
        """Append one synthesised entry (owner root, fixed mtime)."""
        info = tarfile.TarInfo(entry.path)
        info.mode, info.mtime, info.uid, info.gid = entry.mode, MTIME, 0, 0
        info.uname = info.gname = "root"
        if entry.kind == "file":
            info.size = len(entry.data)
            self.tar.addfile(info, io.BytesIO(entry.data))
            return
        info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[entry.kind]
        info.linkname = entry.target
        self.tar.addfile(info)


def make_layer(entries: Iterable[Entry]) -> Layer:
    """A layer holding exactly ``entries`` in order."""
    with LayerWriter() as writer:
        for entry in entries:
            writer.add(entry)
    return writer.layer


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config."""

    cmd: list[str] = field(default_factory=lambda: ["/bin/sh"])
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    workdir: str = "/"
    entrypoint: list[str] | None = None
    labels: dict[str, str] | None = None
    architecture: str = "amd64"


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def config_blob(conf: ImageConfig, layers: list[Layer]) -> bytes:
    """The image config JSON (same bytes for Docker and OCI manifests)."""
    cfg: dict = {"Cmd": conf.cmd, "Env": conf.env, "WorkingDir": conf.workdir}
    if conf.entrypoint:
        cfg["Entrypoint"] = conf.entrypoint
    if conf.labels:
        cfg["Labels"] = conf.labels
    return _json({
        "architecture": conf.architecture,
        "os": "linux",
        "created": CREATED,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": "shifter testbed"} for _ in layers],
    })


def manifest(conf: ImageConfig, layers: list[Layer], oci: bool) -> tuple[bytes, str]:
    """A schema-2 manifest (Docker v2s2, or OCI if ``oci``); returns (bytes, media type)."""
    digest, size = put_blob(config_blob(conf, layers))
    mtype, ctype, ltype = (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER) if oci else (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    body = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "config": {"mediaType": ctype, "digest": digest, "size": size},
        "layers": [{"mediaType": ltype, "digest": l.digest, "size": l.size} for l in layers],
    }
    return _json(body), mtype


def index(manifests: list[tuple[bytes, str]], platforms: list[str]) -> tuple[bytes, str]:
    """An OCI image index of stored ``manifests`` for ``platforms`` (architectures)."""
    entries = []
    for (body, mtype), arch in zip(manifests, platforms):
        digest, size = put_blob(body)
        entries.append({"mediaType": mtype, "digest": digest, "size": size,
                        "platform": {"architecture": arch, "os": "linux"}})
    return _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}), OCI_INDEX


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
