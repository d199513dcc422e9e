"""Content-addressed blob cache shared by all images (``CacheDirectory``).

Blobs live at ``<root>/blobs/<algo>/<hex>`` and only ever appear there by an atomic rename of a
fully written, fsynced and digest-verified temporary file, so concurrent pulls and crashes can
leave at most stale temporaries (removed after a day), never a wrong blob.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_TMP_S = 24 * 3600


class DigestMismatch(Exception):
    """The bytes written do not hash to the expected digest (or size)."""


class _HashingWriter:
    def __init__(self, fh, algo: str) -> None:
        self.fh = fh
        self.hash = hashlib.new(algo)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.fh.write(data)
        self.size += len(data)


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._sweep()

    def path(self, digest: str) -> Path:
        algo, hexd = _split(digest)
        return self.root / "blobs" / algo / hexd

    def has(self, digest: str, size: int = -1) -> bool:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return False
        return size < 0 or st.st_size == size

    @contextmanager
    def writer(self, digest: str, size: int = -1) -> Iterator[_HashingWriter | None]:
        """Yield a writer for ``digest`` (None when already cached); commit on verified exit.

        A per-digest lock makes concurrent pulls of the same blob download it once.
        """
        algo, hexd = _split(digest)
        final = self.path(digest)
        with open(self.tmp / f"{hexd}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.has(digest, size):
                yield None
                return
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmpname = tempfile.mkstemp(prefix=f"{hexd[:16]}.", suffix=".partial", dir=self.tmp)
            try:
                with os.fdopen(fd, "wb") as fh:
                    w = _HashingWriter(fh, algo)
                    yield w
                    if w.hash.hexdigest() != hexd:
                        raise DigestMismatch(f"digest mismatch: got {algo}:{w.hash.hexdigest()}")
                    if size >= 0 and w.size != size:
                        raise DigestMismatch(f"size mismatch: got {w.size} bytes, manifest says {size}")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmpname, final)
                _fsync_dir(final.parent)
            except BaseException:
                _unlink(tmpname)
                raise

    def _sweep(self) -> None:
        cutoff = time.time() - STALE_TMP_S
        for entry in os.scandir(self.tmp):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass


def _split(digest: str) -> tuple[str, str]:
    algo, _, hexd = digest.partition(":")
    if algo not in ("sha256", "sha512") or not hexd or not all(c in "0123456789abcdef" for c in hexd):
        raise DigestMismatch(f"unsupported digest {digest!r}")
    return algo, hexd


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
