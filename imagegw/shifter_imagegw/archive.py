"""Images from local archives: ``docker save`` tarballs and OCI image layouts (directory or tar).

Layers are copied (and digest-checked where the format names a digest) into a private work
directory under ``ExpandDirectory``, then go through the same flatten/convert path as a pull.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .flatten import normalize
from .importformats import ARCHIVE_INDEX
from .registry import LISTS, RegistryError, _descriptor, select_platform

REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(Exception):
    """The archive is not a usable docker-save or OCI layout, or the image is not in it."""


@dataclass
class ArchiveImage:
    id: str
    digest: str
    config: dict
    layers: list[Path]


class _Source:
    """Named files of a directory or a tar archive, read without extracting anything else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar = None if path.is_dir() else _open_tar(path)

    def open(self, name: str) -> BinaryIO:
        clean = normalize(name)
        if not clean:
            raise ArchiveError(f"unsafe or empty member name {name!r}")
        if self.tar is None:
            full = os.path.realpath(self.path / clean)
            if not full.startswith(os.path.realpath(self.path) + os.sep) or not os.path.isfile(full):
                raise ArchiveError(f"{clean}: missing or outside the layout")
            return open(full, "rb")
        try:
            fh = self.tar.extractfile(clean)
        except KeyError:
            fh = None
        if fh is None:
            raise ArchiveError(f"{clean}: missing from the archive or not a file")
        return fh

    def has(self, name: str) -> bool:
        try:
            self.open(name).close()
            return True
        except ArchiveError:
            return False

    def json(self, name: str):
        with self.open(name) as fh:
            try:
                return json.load(fh)
            except ValueError:
                raise ArchiveError(f"{name}: not JSON") from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise ArchiveError(f"not a tar archive or directory: {err}") from None


class Archive:
    def __init__(self, source: _Source, work: Path) -> None:
        self.source = source
        self.work = work

    def select(self, tag: str | None, platform: str, kind: str | None = None,
               strict_tag: bool = True) -> ArchiveImage:
        """The image tagged ``tag``, or the only one when ``tag`` is None (or, unless
        ``strict_tag``, matches nothing).  ``kind`` (a key of ``ARCHIVE_INDEX``) names the index to
        read; None: ``index.json`` if present, else ``manifest.json``."""
        if kind is None:
            kind = next((k for k, index in ARCHIVE_INDEX.items() if self.source.has(index)), None)
            if kind is None:
                raise ArchiveError("neither an OCI layout (index.json) nor a docker save archive (manifest.json)")
        elif not self.source.has(ARCHIVE_INDEX[kind]):
            raise ArchiveError(f"not {'an OCI layout' if kind == 'oci' else 'a docker save archive'} "
                               f"(no {ARCHIVE_INDEX[kind]})")
        return self._oci(tag, platform, strict_tag) if kind == "oci" else self._docker(tag, strict_tag)

    def _copy(self, name: str, digest: str | None) -> Path:
        algo, want = digest.split(":", 1) if digest else ("sha256", None)
        h = hashlib.new(algo)
        fd, tmp = tempfile.mkstemp(prefix="layer.", dir=self.work)
        with os.fdopen(fd, "wb") as out, self.source.open(name) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if want and h.hexdigest() != want:
            raise ArchiveError(f"{name}: digest mismatch (expected {digest})")
        return Path(tmp)

    def _oci(self, tag: str | None, platform: str, strict_tag: bool) -> ArchiveImage:
        index = self.source.json("index.json")
        entries = index.get("manifests") or []
        if tag:
            short = tag.rsplit(":", 1)[-1]
            tagged = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) in (tag, short)]
            entries = tagged if tagged or strict_tag else entries
        if not entries:
            raise ArchiveError(f"no image {'tagged ' + repr(tag) if tag else ''} in the OCI layout".replace("  ", " "))
        if len(entries) > 1 and not all(m.get("platform") for m in entries):
            names = sorted({(m.get("annotations") or {}).get(REF_NAME, "?") for m in entries})
            raise ArchiveError(f"several images in the OCI layout, choose one of: {', '.join(names)}")
        try:
            desc = select_platform({"manifests": entries}, platform) if len(entries) > 1 else _descriptor(entries[0])
            doc, mtype = self._blob_json(desc.digest), entries[0].get("mediaType", "")
            if mtype in LISTS or "manifests" in doc:
                desc = select_platform(doc, platform)
                doc = self._blob_json(desc.digest)
            layers = [_descriptor(d) for d in doc["layers"]]
            config = self._blob_json(_descriptor(doc["config"]).digest)
        except (RegistryError, KeyError, TypeError) as err:
            raise ArchiveError(f"OCI layout: {err}") from None
        paths = [self._copy(_blob_name(d.digest), d.digest) for d in layers]
        return ArchiveImage(desc.digest.split(":", 1)[1], desc.digest, config, paths)

    def _blob_json(self, digest: str):
        data = self._copy(_blob_name(digest), digest)
        try:
            return json.loads(data.read_bytes())
        except ValueError:
            raise ArchiveError(f"blob {digest} is not JSON") from None
        finally:
            data.unlink()

    def _docker(self, tag: str | None, strict_tag: bool) -> ArchiveImage:
        manifest = self.source.json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise ArchiveError("manifest.json: expected a non-empty list")
        chosen = [m for m in manifest if tag and any(_same_tag(tag, t) for t in m.get("RepoTags") or [])]
        if not chosen and (not tag or not strict_tag) and len(manifest) == 1:
            chosen = manifest
        if len(chosen) != 1:
            tags = sorted(t for m in manifest for t in (m.get("RepoTags") or []))
            raise ArchiveError(f"choose an image with a tag; the archive has: {', '.join(tags) or 'untagged images'}")
        entry = chosen[0]
        try:
            config_path = self._copy(entry["Config"], None)
            config_bytes = config_path.read_bytes()
            config_path.unlink()
            config = json.loads(config_bytes)
            digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
            layers = [self._copy(name, None) for name in entry["Layers"]]
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"manifest.json: bad entry ({err})") from None
        return ArchiveImage(digest.split(":", 1)[1], digest, config, layers)


def _same_tag(want: str, have: str) -> bool:
    """``test/x:1`` matches ``docker.io/test/x:1``; ``ubuntu:22.04`` matches ``docker.io/library/ubuntu:22.04``."""
    def short(t: str) -> str:
        for prefix in ("docker.io/", "index.docker.io/", "library/"):
            t = t[len(prefix):] if t.startswith(prefix) else t
        return t
    return short(want) == short(have)


def _blob_name(digest: str) -> str:
    algo, hexd = digest.split(":", 1)
    return f"blobs/{algo}/{hexd}"


@contextmanager
def open_archive(path: Path, expand_dir: Path) -> Iterator[Archive]:
    """Open ``path`` (docker save tar, OCI layout dir or tar); the work dir goes away on exit."""
    if not path.exists():
        raise ArchiveError("no such file or directory")
    expand_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="import.", dir=expand_dir))
    source = _Source(path) if path.is_dir() else None
    try:
        source = source or _Source(path)
        yield Archive(source, work)
    finally:
        if source is not None:
            source.close()
        shutil.rmtree(work, ignore_errors=True)
