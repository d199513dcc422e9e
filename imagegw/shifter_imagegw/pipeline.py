"""Public pull/import API of the gateway: registry image -> safe squashfs -> image directory.

The gateway service calls :func:`pull_image` and :func:`import_archive` from its workers.
Both report progress through ``progress(status, bytes_done, bytes_total)`` with the
statuses PULLING -> EXAMINATION -> CONVERSION -> TRANSFER (an :class:`Examiner` runs at the
end of CONVERSION, so statuses never go back), and raise :class:`PullError` (a one-line reason naming the reference)
on any failure, leaving nothing published and no temporary file behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .flatten import FlattenError
from .metafile import ImageMeta
from .layercache import LayerCache
from .publish import PARTIAL_GRACE_S, PARTIAL_NAME, LocalPublisher, PublishError, Publisher
from .reference import ImageRef, Location, ReferenceError, parse_reference
from .registry import RegistryClient, RegistryError
from .squashfs import ConversionError, ConverterOptions, convert_layers, last_line, unpack_squashfs

Progress = Callable[[str, int, int], None]

PULLING, EXAMINATION, CONVERSION, TRANSFER = "PULLING", "EXAMINATION", "CONVERSION", "TRANSFER"


class PullError(Exception):
    """A pull or import failed; ``str(err)`` is a one-line reason naming the image."""


@dataclass
class PullRequest:
    """What to pull and for whom.

    ``credentials`` maps a location name (or ``"default"``) to ``"user:password"``, as in
    the munge payload's ``authorized_locations``.  ``user_acl``/``group_acl`` restrict the
    published files of a private image to those uids/gids (empty = public).
    """
    reference: str
    platform: str = "linux/amd64"
    credentials: Mapping[str, str] | None = None
    user_acl: tuple[int, ...] = ()
    group_acl: tuple[int, ...] = ()

    @property
    def private(self) -> bool:
        return bool(self.user_acl or self.group_acl)


@dataclass
class PulledImage:
    """Result of a pull or import: the published image and its metadata."""
    id: str
    squashfs: Path
    meta_path: Path
    meta: ImageMeta
    manifest_digest: str = ""
    authenticated: bool = False      # registry credentials were needed (upstream: private)
    meta_only: bool = False          # image already present: only the .meta was rewritten
    bytes_downloaded: int = 0        # layer bytes fetched or found in the cache (0: meta only)
    layers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Examiner:
    """Upstream's ``examiner`` hook: ``<path> <rootfs> <id>`` runs on the unpacked image, as the
    gateway user, with stdin /dev/null and the work dir as cwd; exit 0 lets the image be published."""
    path: str
    timeout: float = 600.0

    def check(self, image: Path, work: Path, image_id: str, label: str) -> None:
        """Unpack the squashfs ``image`` into ``work``/rootfs and run the examiner on it;
        :class:`PullError` unless it exits 0."""
        root = work / "rootfs"
        unpack_squashfs(image, root)
        try:
            proc = subprocess.Popen([self.path, str(root), image_id], cwd=work, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as err:
            raise PullError(f"examiner {self.path} cannot run on {label}: {err.strerror}") from None
        try:
            _, err_text = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)        # its children too
            proc.communicate()
            raise PullError(f"examiner {self.path} timed out on {label} after {self.timeout:g} s") from None
        if proc.returncode != 0:
            why = last_line(err_text.decode(errors="replace"), f"exit {proc.returncode}")
            raise PullError(f"examiner {self.path} rejected {label}: {why}")


def _noop(status: str, done: int, total: int) -> None:
    return None


def _credentials(req: PullRequest, location: str) -> tuple[str, str] | None:
    tokens = req.credentials or {}
    raw = tokens.get(location) or tokens.get("default")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        raise PullError(f"{req.reference}: credentials for location {location!r} are not 'user:password'")
    return user, password


def _publisher(target: Path | str | Publisher) -> Publisher:
    return target if isinstance(target, Publisher) else LocalPublisher(Path(target))


def pull_image(req: PullRequest, *, cache_dir: Path | str, expand_dir: Path | str,
               image_dir: Path | str | Publisher, locations: Mapping[str, Location | Mapping] | None = None,
               default_location: str = "registry-1.docker.io",
               converter_options: ConverterOptions | Mapping | None = None,
               progress: Progress | None = None, timeout: float = 60.0,
               retries: int = 4, backoff: float = 0.5, examiner: Examiner | None = None) -> PulledImage:
    """Pull ``req.reference``, flatten its layers, convert to squashfs and publish it.

    ``image_dir`` is the local ``imageDir`` or a :class:`Publisher` (e.g. remote ssh).
    ``locations`` is the ``Locations`` config (name -> Location or its config dict).
    ``examiner`` must accept a newly converted image before it is published.
    """
    progress = progress or _noop
    try:
        ref = parse_reference(req.reference, locations or {}, default_location)
    except ReferenceError as err:
        raise PullError(str(err)) from None
    label = ref.display
    publisher = _publisher(image_dir)
    try:
        progress(PULLING, 0, 0)
        client = RegistryClient(ref, credentials=_credentials(req, ref.location), timeout=timeout,
                                retries=retries, backoff=backoff)
        resolved = client.resolve(req.platform)
        meta = ImageMeta.from_config(resolved.config, user_acl=req.user_acl, group_acl=req.group_acl)
        image_id = resolved.digest.split(":", 1)[1]
        if publisher.exists(image_id):
            meta_path = publisher.publish_meta(image_id, meta, expand_dir=Path(expand_dir))
            progress(TRANSFER, 0, 0)
            return PulledImage(image_id, publisher.image_path(image_id), meta_path, meta, resolved.digest,
                               client.authenticated, meta_only=True,
                               layers=[d.digest for d in resolved.layers])
        cache = LayerCache(Path(cache_dir))
        total = sum(d.size for d in resolved.layers)
        paths = client.fetch_layers(resolved.layers, cache, lambda done: progress(PULLING, done, total))
        return _convert_and_publish(image_id, paths, meta, Path(expand_dir), publisher, converter_options,
                                    progress, resolved.digest, client.authenticated, total,
                                    examiner=examiner, label=label)
    except (RegistryError, FlattenError, ConversionError, PublishError, OSError) as err:
        raise PullError(f"{label}: {_one_line(err)}") from None


def import_archive(archive: Path | str, *, expand_dir: Path | str, image_dir: Path | str | Publisher,
                   tag: str | None = None, strict_tag: bool = True, fmt: str | None = None,
                   platform: str = "linux/amd64",
                   user_acl: tuple[int, ...] = (), group_acl: tuple[int, ...] = (),
                   converter_options: ConverterOptions | Mapping | None = None,
                   progress: Progress | None = None, examiner: Examiner | None = None) -> PulledImage:
    """Import a ``docker save`` tar archive or an OCI layout (directory or tar) like a pull.

    ``tag`` picks an image inside a multi-image archive (``repo:tag``); unless ``strict_tag``,
    a tag that matches nothing picks the archive's only image.  ``fmt`` is ``"docker-archive"``
    or ``"oci"`` (None: OCI if the archive has an ``index.json``).  The id is the digest of
    the image manifest (OCI) or of the image config (docker save, which has no manifest digest).
    """
    from .archive import ArchiveError, open_archive

    progress = progress or _noop
    label = f"{archive}" + (f" ({tag})" if tag else "")
    publisher = _publisher(image_dir)
    expand = Path(expand_dir)
    try:
        progress(PULLING, 0, 0)
        with open_archive(Path(archive), expand) as arch:
            image = arch.select(tag, platform, fmt, strict_tag)
            meta = ImageMeta.from_config(image.config, user_acl=user_acl, group_acl=group_acl)
            if publisher.exists(image.id):
                meta_path = publisher.publish_meta(image.id, meta, expand_dir=expand)
                progress(TRANSFER, 0, 0)
                return PulledImage(image.id, publisher.image_path(image.id), meta_path, meta, image.digest,
                                   meta_only=True, layers=[str(p) for p in image.layers])
            return _convert_and_publish(image.id, image.layers, meta, expand, publisher, converter_options,
                                        progress, image.digest, False, 0, examiner=examiner, label=label)
    except (ArchiveError, FlattenError, ConversionError, PublishError, OSError, tarfile.TarError,
            json.JSONDecodeError, KeyError) as err:
        raise PullError(f"{label}: {_one_line(err)}") from None


def _convert_and_publish(image_id: str, layers: list[Path], meta: ImageMeta, expand_dir: Path,
                         publisher: Publisher, options, progress: Progress, digest: str,
                         authenticated: bool, downloaded: int, *, examiner: Examiner | None,
                         label: str) -> PulledImage:
    expand_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{image_id[:16]}.", suffix=".convert", dir=expand_dir))
    try:
        progress(EXAMINATION, 0, sum(p.stat().st_size for p in layers))
        out = work / f"{image_id}.squashfs"
        convert_layers(layers, out, ConverterOptions.coerce(options), work,
                       on_progress=lambda done, size: progress(CONVERSION, done, size))
        if examiner is not None:
            examiner.check(out, work, image_id, label)
        progress(TRANSFER, 0, out.stat().st_size)
        image_path, meta_path = publisher.publish(image_id, out, meta, expand_dir=work)
        return PulledImage(image_id, image_path, meta_path, meta, digest, authenticated,
                           bytes_downloaded=downloaded, layers=[p.name for p in layers])
    finally:
        _remove(work)


def sweep_leftovers(expand_dir: Path | str, image_dirs: Iterable[Path | str] = (),
                    grace_s: float = PARTIAL_GRACE_S) -> list[Path]:
    """Start-up cleanup of what a killed gateway left; call before any job runs.

    Everything in ``expand_dir`` goes: it is this gateway's scratch (``*.convert``/``*.import``
    work dirs, ``import.*`` archive copies).  In each local ``image_dirs`` only the hidden
    ``.partial`` files of :class:`LocalPublisher` older than ``grace_s`` go, since another
    gateway may be publishing into a shared imageDir (remote imageDirs are swept by each
    remote publish).  Symlinks are removed, never followed.
    Returns what was removed.
    """
    cutoff = time.time() - grace_s
    gone = [p for p in _listdir(Path(expand_dir)) if _remove(p)]
    for image_dir in image_dirs:
        gone += [p for p in _listdir(Path(image_dir))
                 if PARTIAL_NAME.fullmatch(p.name) and _old_file(p, cutoff) and _remove(p)]
    return gone


def _listdir(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError:
        return []


def _old_file(path: Path, cutoff: float) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            _rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def _rmtree(path: Path) -> None:
    """``rm -rf``; if that fails, the owner gets rwx on every directory first (as upstream's
    ``chmod -R u+w``: an examiner may leave read-only directories behind)."""
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for top, dirs, _files in os.walk(path):                 # top-down: a directory is opened
        for sub in (os.path.join(top, d) for d in dirs):    # after its parent made it readable
            if not os.path.islink(sub):
                with contextlib.suppress(OSError):
                    os.chmod(sub, 0o700)
    shutil.rmtree(path)


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text = f"{text}: {err.filename}"
    return " ".join(text.split())


__all__ = ["PullRequest", "PulledImage", "PullError", "pull_image", "import_archive", "sweep_leftovers", "Examiner",
           "Location", "ImageMeta", "ImageRef", "ConverterOptions", "Publisher", "LocalPublisher"]
