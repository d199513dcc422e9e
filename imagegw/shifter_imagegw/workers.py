"""Jobs off the request path: pulls, imports and expirations.

Each gunicorn process owns a small thread pool.  A job first *claims* its
record with a compare-and-set (PENDING -> PULLING), so a record is worked on
by exactly one thread of one process.  Running jobs heartbeat every few
seconds; every process periodically looks for in-progress records whose
heartbeat stopped (a gateway killed mid-pull) and, again through a
compare-and-set, either resumes them (public pulls and imports, up to
``MAX_ATTEMPTS``) or marks them FAILURE with the reason.  The pipeline never
publishes half-written files, so a resumed pull starts cleanly.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from .config import GatewayConfig
from .importformats import SQUASHFS_MAGIC, source_problem
from .manager import ImageManager, PullOutcome
from .store import IN_PROGRESS, ImageRecord, ImageStore

if TYPE_CHECKING:
    from .pipeline import Examiner

LOG = logging.getLogger("shifter_imagegw.workers")
MAX_ATTEMPTS = 3


def fasthash(fh: BinaryIO, chunk: int = 1 << 20, stride: int = 512 << 20) -> str:
    """Upstream's import id: sha256 of the first MiB of every 512 MiB stride of the open
    file ``fh``."""
    digest = hashlib.sha256()
    size = os.fstat(fh.fileno()).st_size
    for offset in range(0, max(size, 1), stride):
        fh.seek(offset)
        digest.update(fh.read(chunk))
    return digest.hexdigest()


def _acl(rec: ImageRecord) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (user, group) ACL a private record's image is published with; public: empty."""
    return (tuple(rec.userACL), tuple(rec.groupACL)) if rec.private else ((), ())


def _outcome(image: Any) -> PullOutcome:
    meta = image.meta
    return PullOutcome(id=image.id, meta_only=image.meta_only, ENV=list(meta.env),
                       ENTRY=meta.entrypoint, CMD=meta.cmd, WORKDIR=meta.workdir or None,
                       LABELS=dict(meta.labels) or None)


class WorkerPool:
    """Runs jobs for one gateway process; see the module docstring."""

    def __init__(self, config: GatewayConfig, store: ImageStore, *, threads: int | None = None,
                 stale_s: float | None = None) -> None:
        self.config = config
        self.store = store
        self.manager: ImageManager | None = None
        self.stale_s = stale_s or config.heartbeat_timeout
        self.heartbeat_s = max(0.2, self.stale_s / 5)
        self.executor = ThreadPoolExecutor(max_workers=threads or config.worker_threads,
                                           thread_name_prefix="imagegw-job")
        self.active: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def bind(self, manager: ImageManager) -> "WorkerPool":
        self.manager = manager
        return self

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start heartbeats and the recovery of interrupted jobs."""
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_loop, name="imagegw-heartbeat",
                                            daemon=True)
            self._ticker.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self.executor.shutdown(wait=wait, cancel_futures=True)

    def _tick_loop(self) -> None:
        next_recover = 0.0
        while not self._stop.wait(self.heartbeat_s):
            now = time.time()
            with self._lock:
                running = list(self.active)
            for ident in running:
                self._safe(self.store.update, ident, {"last_heartbeat": now})
            if now >= next_recover:
                self._safe(self.recover)
                next_recover = now + self.stale_s / 2

    @staticmethod
    def _safe(fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a catalogue hiccup must not kill the heartbeat thread
            LOG.exception("imagegw background task failed")

    # -- submission (JobRunner protocol) ---------------------------------------------
    def pull(self, rec: ImageRecord, tokens: dict[str, str]) -> None:
        self.executor.submit(self._run, rec.ident, self._do_pull, tokens)

    def doimport(self, rec: ImageRecord, user: str | None) -> None:
        self.executor.submit(self._run, rec.ident, self._do_import, user)

    def expire(self, rec: ImageRecord) -> None:
        self.executor.submit(self._run_expire, rec.ident)

    # -- recovery --------------------------------------------------------------------
    def recover(self) -> int:
        """Resume or fail in-progress records whose heartbeat stopped; returns count."""
        now = time.time()
        count = 0
        for rec in self.store.find(status_in=IN_PROGRESS):
            beat = rec.last_heartbeat or rec.last_pull or 0.0
            if now - beat < self.stale_s or rec.ident in self.active:
                continue
            expect = {"status": rec.status, "last_heartbeat": rec.last_heartbeat}
            if rec.status == "EXPIRING":
                if self.store.update(rec.ident, {"last_heartbeat": now}, expect):
                    self.expire(rec)
                    count += 1
                continue
            if rec.credentialed or rec.attempts + 1 >= MAX_ATTEMPTS:
                why = ("registry credentials are not kept" if rec.credentialed
                       else f"interrupted {rec.attempts + 1} times")
                ok = self.store.update(rec.ident, {
                    "status": "FAILURE", "last_heartbeat": now,
                    "status_message": f"gateway stopped during {rec.status}; {why}: pull again"},
                    expect)
            else:
                ok = self.store.update(rec.ident, {
                    "status": "PENDING", "attempts": rec.attempts + 1, "last_heartbeat": now,
                    "status_message": f"resumed after the gateway stopped during {rec.status}"},
                    expect)
                if ok:
                    (self.doimport(rec, None) if rec.filepath else self.pull(rec, {}))
            count += int(ok)
        return count

    # -- running jobs ----------------------------------------------------------------
    def _run(self, ident: str, job: Callable[[ImageRecord, Any], PullOutcome], arg: Any) -> None:
        now = time.time()
        if not self.store.update(ident, {"status": "PULLING", "last_heartbeat": now,
                                         "status_message": "starting"},
                                 expect={"status": "PENDING"}):
            return  # another thread or process owns it
        with self._lock:
            self.active.add(ident)
        try:
            rec = self.store.get(ident)
            LOG.info("job %s: %s %s:%s started", ident, job.__name__.removeprefix("_do_"),
                     rec.itype, rec.pulltag)
            outcome = job(rec, arg)
            self.manager.complete(ident, outcome)
            LOG.info("job %s: %s:%s READY as %s", ident, rec.itype, rec.pulltag, outcome.id)
        except Exception as exc:  # every failure ends as FAILURE with a reason
            from .pipeline import PullError
            reason = str(exc) if isinstance(exc, PullError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, PullError):
                LOG.exception("job %s failed", ident)
            else:
                LOG.warning("job %s failed: %s", ident, reason)
            self._safe(self.store.update, ident, {
                "status": "FAILURE", "status_message": " ".join(reason.split()) or "failed",
                "last_heartbeat": time.time()})
        finally:
            with self._lock:
                self.active.discard(ident)

    def _progress(self, ident: str) -> Callable[[str, int, int], None]:
        state = {"status": None, "at": 0.0}

        def report(status: str, done: int, total: int) -> None:
            now = time.time()
            if status == state["status"] and now - state["at"] < 0.5:
                return
            state.update(status=status, at=now)
            message = f"{status.lower()} {done}/{total} bytes" if total else status.lower()
            self.store.update(ident, {"status": status, "bytes_done": int(done),
                                      "bytes_total": int(total), "status_message": message,
                                      "last_heartbeat": now})
        return report

    def _publisher(self, system: str) -> Any:
        from . import publish
        plat = self.config.platforms[system]
        if plat.accesstype == "remote":
            return publish.RemotePublisher.from_config(plat.raw)
        return publish.LocalPublisher(Path(plat.image_dir))

    def _platform(self, system: str) -> str:
        return self.config.platforms[system].raw.get("platform", "linux/amd64")

    def _examiner(self) -> Examiner | None:
        from .pipeline import Examiner
        return Examiner(self.config.examiner) if self.config.examiner else None

    def _do_pull(self, rec: ImageRecord, tokens: dict[str, str]) -> PullOutcome:
        from .pipeline import PullRequest, pull_image
        acl = _acl(rec)
        req = PullRequest(reference=rec.pulltag, platform=self._platform(rec.system),
                          credentials=tokens or None, user_acl=acl[0], group_acl=acl[1])
        image = pull_image(req, cache_dir=self.config.cache_dir,
                           expand_dir=self.config.expand_dir,
                           image_dir=self._publisher(rec.system),
                           locations=self.config.locations,
                           default_location=self.config.default_location,
                           converter_options=self.config.raw.get("ConverterOptions"),
                           progress=self._progress(rec.ident), examiner=self._examiner())
        return _outcome(image)

    def _do_import(self, rec: ImageRecord, user: str | None) -> PullOutcome:
        from .pipeline import PullError
        problem = source_problem(rec.filepath or "", rec.format or "")
        if problem:  # checked on the request too; the file may have changed since
            raise PullError(problem)
        if rec.format == "squashfs":
            return self._import_squashfs(rec, user)
        return self._import_archive(rec)

    def _import_archive(self, rec: ImageRecord) -> PullOutcome:
        """A ``docker save`` tar or an OCI layout, converted like a pull; the tag picks the
        image of a multi-image archive when it matches one."""
        from .pipeline import import_archive
        acl = _acl(rec)
        image = import_archive(rec.filepath or "", expand_dir=self.config.expand_dir,
                               image_dir=self._publisher(rec.system), tag=rec.pulltag,
                               strict_tag=False, fmt=rec.format,
                               platform=self._platform(rec.system), user_acl=acl[0],
                               group_acl=acl[1],
                               converter_options=self.config.raw.get("ConverterOptions"),
                               progress=self._progress(rec.ident), examiner=self._examiner())
        return _outcome(image)

    def _import_squashfs(self, rec: ImageRecord, user: str | None) -> PullOutcome:
        """Upstream's import: a ready squashfs, copied as is; the id is its fasthash."""
        from .pipeline import PullError
        src = rec.filepath or ""
        try:  # one O_NONBLOCK descriptor: a fifo swapped in since the check cannot hang us
            fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise PullError(f"{src}: cannot read: {exc.strerror}") from None
        with open(fd, "rb") as fh:
            return self._publish_squashfs(rec, user, src, fh)

    def _publish_squashfs(self, rec: ImageRecord, user: str | None, src: str,
                          fh: BinaryIO) -> PullOutcome:
        from .metafile import ImageMeta
        from .pipeline import PullError
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PullError(f"{src}: not a regular file")
        if fh.read(4) != SQUASHFS_MAGIC:
            raise PullError(f"{src}: not a squashfs image")
        self._progress(rec.ident)("HASHING", 0, st.st_size)
        image_id = fasthash(fh)
        acl = _acl(rec)
        meta = ImageMeta(user=user or "", user_acl=acl[0], group_acl=acl[1])
        os.makedirs(self.config.expand_dir, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{image_id[:16]}.", suffix=".import",
                                     dir=self.config.expand_dir))
        try:
            staged = work / f"{image_id}.squashfs"
            fh.seek(0)
            with open(staged, "wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
            self._progress(rec.ident)("TRANSFER", 0, staged.stat().st_size)
            self._publisher(rec.system).publish(image_id, staged, meta, expand_dir=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return PullOutcome(id=image_id)

    def _run_expire(self, ident: str) -> None:
        rec = self.store.get(ident)
        if rec is None:
            return
        try:
            if rec.id:
                self._publisher(rec.system).remove(rec.id)
            self.store.update(ident, {"status": "EXPIRED", "tag": [],
                                      "status_message": "expired", "last_heartbeat": time.time()})
        except Exception as exc:
            LOG.exception("expire of %s failed", ident)
            self._safe(self.store.update, ident, {"status": "FAILURE",
                                                  "status_message": f"expire failed: {exc}"})
