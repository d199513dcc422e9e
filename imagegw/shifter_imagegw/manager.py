"""Image manager: upstream's catalogue rules (inventory §1.3-1.6).

The module-level functions are the pure rules (tested without a store);
:class:`ImageManager` applies them to an :class:`ImageStore` and hands pulls,
imports and expirations to a job runner (``workers.WorkerPool``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from .auth import Session
from .config import GatewayConfig
from .importformats import IMPORT_FORMATS, source_problem
from .reference import ReferenceError, parse_reference
from .store import IN_PROGRESS, ImageRecord, ImageStore, MetricRecord

RECENT_PULL_S = 10.0
STUCK_HEARTBEAT_S = 3600.0
EXPIRATION_SLACK_S = 60.0
IMAGE_TYPES = ("docker", "custom")
MAX_ID = 2**32 - 1  # (uid_t) -1 is "no id"


class ManagerError(Exception):
    """A request the manager refuses; ``http`` is the status to answer with."""

    def __init__(self, message: str, http: int = 400) -> None:
        super().__init__(message)
        self.http = http


class JobRunner(Protocol):
    def pull(self, rec: ImageRecord, tokens: dict[str, str]) -> None: ...
    def doimport(self, rec: ImageRecord, user: str | None) -> None: ...
    def expire(self, rec: ImageRecord) -> None: ...


# -- pure rules ----------------------------------------------------------------------
def normalize_tag(itype: str, tag: str) -> str:
    """Append ``:latest`` to docker and custom tags that have none.

    Upstream adds it to custom tags on lookup only, so an imported custom
    image without a tag could never be looked up; here every route agrees.
    Only the last path component is inspected, so ``host:5000/repo`` gets
    ``:latest`` while ``repo@sha256:...`` is left alone.
    """
    if itype in IMAGE_TYPES:
        last = tag.rsplit("/", 1)[-1]
        if ":" not in last and "@" not in last:
            return tag + ":latest"
    return tag


def parse_id_list(value: Any, what: str) -> list[int]:
    """``"1,2"`` (or a list) -> [1, 2] of valid uids/gids; ManagerError naming *what* otherwise."""
    if value in (None, ""):
        return []
    items = value.split(",") if isinstance(value, str) else value
    try:
        ids = [int(str(v).strip()) for v in items if str(v).strip()]
    except (TypeError, ValueError):
        raise ManagerError(f"{what}: expected comma-separated numeric ids, got {value!r}") from None
    if any(not 0 <= i < MAX_ID for i in ids):
        raise ManagerError(f"{what}: ids must be between 0 and {MAX_ID - 1}")
    return ids


def with_requester(acl: list[int], requester: int | None) -> list[int]:
    """Upstream adds the requester to a non-empty ACL so they keep access."""
    if acl and requester is not None and requester not in acl:
        return acl + [requester]
    return acl


def acl_changed(rec: ImageRecord | None, user_acl: list[int], group_acl: list[int]) -> bool:
    if rec is None:
        return True
    return set(rec.userACL or []) != set(user_acl) or set(rec.groupACL or []) != set(group_acl)


def can_read(session: Session, rec: ImageRecord) -> bool:
    """Public images for everyone; private ones for listed uids / gids."""
    if rec.private is False or (not rec.userACL and not rec.groupACL):
        return True
    if session.anonymous:
        return False
    if session.uid in (rec.userACL or []):
        return True
    groups = set(rec.groupACL or [])
    return bool(groups) and (session.gid in groups or bool(groups.intersection(session.groups())))


def pullable(rec: ImageRecord | None, now: float, update_timeout: float) -> bool:
    """Whether the record should be pulled again (upstream ``_pullable``)."""
    if rec is None or not rec.status or rec.status == "EXPIRED" or rec.last_pull is None:
        return True
    age = now - rec.last_pull
    if rec.status in ("READY", "FAILURE"):
        return age > update_timeout
    beat = rec.last_heartbeat if rec.last_heartbeat is not None else rec.last_pull
    return now - beat > STUCK_HEARTBEAT_S


def needs_expiration_reset(rec: ImageRecord, now: float, timeout: float) -> bool:
    """Avoid a catalogue write on every lookup: refresh when a minute has passed."""
    return rec.expiration is None or rec.expiration < now + timeout - EXPIRATION_SLACK_S


# -- response shape ------------------------------------------------------------------
RESPONSE_KEYS = ("id", "system", "itype", "tag", "status", "userACL", "groupACL", "ENV", "ENTRY",
                 "WORKDIR", "LABELS", "last_pull", "status_message")


def response(rec: ImageRecord) -> dict[str, Any]:
    """Upstream's image record JSON: exactly these keys, ``"MISSING"`` when unset."""
    out: dict[str, Any] = {}
    for key in RESPONSE_KEYS:
        value = getattr(rec, key)
        out[key] = "MISSING" if value is None else value
    return out


@dataclass
class PullOutcome:
    """Fields a finished pull or import reports back to the catalogue."""

    id: str
    meta_only: bool = False
    ENV: list[str] | None = None
    ENTRY: Any = None
    CMD: Any = None
    WORKDIR: str | None = None
    LABELS: dict[str, str] | None = None


class ImageManager:
    """Catalogue policy over one store; jobs go to *runner*."""

    def __init__(self, config: GatewayConfig, store: ImageStore,
                 runner: JobRunner | None = None, clock=time.time) -> None:
        self.config = config
        self.store = store
        self.runner = runner
        self.clock = clock

    # -- helpers ---------------------------------------------------------------------
    def check_system(self, system: str) -> None:
        if system not in self.config.platforms:
            raise ManagerError(f"Invalid System: {system!r}", http=404)

    @staticmethod
    def check_type(itype: str) -> None:
        if itype not in IMAGE_TYPES:
            raise ManagerError(f"Invalid image type: {itype!r} (expected docker or custom)")

    def check_reference(self, tag: str) -> None:
        """Refuse a tag the pull or import could never publish (before any record exists)."""
        try:
            parse_reference(tag, self.config.locations, self.config.default_location)
        except ReferenceError as exc:
            raise ManagerError(str(exc)) from None

    def is_admin(self, session: Session, system: str) -> bool:
        plat = self.config.platform(system)
        return bool(plat and session.user and session.user in plat.admins)

    def _drop_old_failures(self, system: str, now: float) -> None:
        for rec in self.store.find(system=system, status="FAILURE"):
            if rec.last_pull is None or now - rec.last_pull > self.config.pull_update_timeout:
                self.store.delete(rec.ident)

    # -- read side -------------------------------------------------------------------
    def lookup(self, session: Session, system: str, itype: str, tag: str) -> ImageRecord | None:
        self.check_system(system)
        tag = normalize_tag(itype, tag)
        now = self.clock()
        found = self.store.find(system=system, itype=itype, status="READY", tag=tag)
        rec = found[0] if found else None
        if rec is None or not can_read(session, rec):
            return None
        timeout = self.config.expiration_timeout
        if needs_expiration_reset(rec, now, timeout):
            rec.expiration = now + timeout
            self.store.update(rec.ident, {"expiration": rec.expiration})
        if self.config.metrics:
            self.store.add_metric(MetricRecord(session.user, session.uid, system, itype, tag,
                                               rec.id, now))
        return rec

    def imglist(self, session: Session, system: str) -> list[ImageRecord]:
        self.check_system(system)
        return [r for r in self.store.find(system=system, status="READY") if can_read(session, r)]

    def queue(self, system: str) -> list[dict[str, str]]:
        self.check_system(system)
        return [{"status": r.status, "image": r.pulltag}
                for r in self.store.find(system=system)
                if r.status not in ("READY", "EXPIRED") and r.pulltag]

    def metrics(self, session: Session, system: str, limit: int) -> list[dict[str, Any]]:
        self.check_system(system)
        if not self.is_admin(session, system):
            return []
        return [m.__dict__ for m in self.store.metrics(system, limit)]

    # -- pulls -----------------------------------------------------------------------
    def pull(self, session: Session, system: str, itype: str, tag: str,
             user_acl: list[int] | None = None, group_acl: list[int] | None = None) -> ImageRecord:
        """Start (or join) a pull; returns the record clients poll."""
        self.check_system(system)
        self.check_type(itype)
        tag = normalize_tag(itype, tag)
        self.check_reference(tag)
        user_acl = with_requester(list(user_acl or []), session.uid)
        group_acl = with_requester(list(group_acl or []), session.gid)
        with self.store.exclusive(f"pull:{system}:{itype}:{tag}"):
            now = self.clock()
            self._drop_old_failures(system, now)
            ready = self.store.find(system=system, itype=itype, status="READY", tag=tag)
            pending = [r for r in self.store.find(system=system, itype=itype, pulltag=tag)
                       if r.status != "READY"]
            rec = pending[0] if pending else (ready[0] if ready else None)
            inflight = rec is not None and rec.status in IN_PROGRESS
            recent = (rec is not None and rec.status == "READY" and rec.last_pull is not None
                      and now - rec.last_pull < RECENT_PULL_S)
            changed = acl_changed(rec, user_acl, group_acl)
            if rec is not None and not can_read(session, rec):
                if inflight:  # joining it would hand over the other user's record
                    raise ManagerError("a private pull of this image by another user is in "
                                       "progress: pull again later", http=409)
            elif not ((not recent and not inflight and changed)
                      or pullable(rec, now, self.config.pull_update_timeout)):
                return rec
            for old in pending:
                self.store.delete(old.ident)
            new = ImageRecord(system=system, itype=itype, pulltag=tag, status="PENDING",
                              format=self.config.default_format, userACL=user_acl,
                              groupACL=group_acl, private=bool(user_acl or group_acl),
                              last_pull=now, last_heartbeat=now,
                              credentialed=bool(session.tokens))
            self.store.insert(new)
        if self.runner is not None:
            self.runner.pull(new, dict(session.tokens))
        return new

    def doimport(self, session: Session, system: str, itype: str, tag: str, filepath: str,
                 fmt: str, user_acl: list[int] | None = None,
                 group_acl: list[int] | None = None) -> ImageRecord:
        self.check_system(system)
        self.check_type(itype)
        if not self.config.may_import(session.user):
            raise ManagerError(f"user {session.user or '(anonymous)'} may not import images "
                               "(ImportUsers)", http=403)
        if fmt not in IMPORT_FORMATS:
            raise ManagerError(f"format: unsupported import format {fmt!r} "
                               f"(expected {', '.join(IMPORT_FORMATS)})")
        problem = source_problem(filepath, fmt)
        if problem:
            raise ManagerError(problem)
        tag = normalize_tag(itype, tag)
        self.check_reference(tag)
        user_acl = with_requester(list(user_acl or []), session.uid)
        group_acl = with_requester(list(group_acl or []), session.gid)
        with self.store.exclusive(f"pull:{system}:{itype}:{tag}"):
            now = self.clock()
            pending = [r for r in self.store.find(system=system, itype=itype, pulltag=tag)
                       if r.status != "READY"]
            if pending and pending[0].status in IN_PROGRESS and not pullable(
                    pending[0], now, self.config.pull_update_timeout):
                return pending[0]
            for old in pending:
                self.store.delete(old.ident)
            new = ImageRecord(system=system, itype=itype, pulltag=tag, status="PENDING",
                              format=fmt, userACL=user_acl, groupACL=group_acl,
                              private=bool(user_acl or group_acl), last_pull=now,
                              last_heartbeat=now, filepath=filepath)
            self.store.insert(new)
        if self.runner is not None:
            self.runner.doimport(new, session.user)
        return new

    def complete(self, ident: str, outcome: PullOutcome) -> ImageRecord | None:
        """A job finished: one READY record per image id, the tag moved onto it."""
        rec = self.store.get(ident)
        if rec is None:
            return None
        now = self.clock()
        with self.store.exclusive(f"image:{rec.system}:{outcome.id}"):
            same = [r for r in self.store.find(system=rec.system, status="READY", id=outcome.id)
                    if r.ident != ident]
            if same:
                target = same[0]
                values: dict[str, Any] = {"last_pull": now}
                if outcome.meta_only or acl_changed(target, rec.userACL, rec.groupACL):
                    values.update(userACL=rec.userACL, groupACL=rec.groupACL, private=rec.private)
                self.store.update(target.ident, values)
                self.store.add_tag(target.ident, rec.system, rec.pulltag)
                self.store.delete(ident)
                return self.store.get(target.ident)
            acls = (rec.userACL, rec.groupACL) if rec.private else ([], [])
            # "format" names the published file (an import's source format is no longer needed)
            self.store.update(ident, {
                "id": outcome.id, "format": self.config.default_format, "ENV": outcome.ENV,
                "ENTRY": outcome.ENTRY, "CMD": outcome.CMD,
                "WORKDIR": outcome.WORKDIR, "LABELS": outcome.LABELS, "last_pull": now,
                "userACL": acls[0], "groupACL": acls[1], "status": "READY",
                "status_message": "", "last_heartbeat": now})
            self.store.add_tag(ident, rec.system, rec.pulltag)
        return self.store.get(ident)

    # -- expiry (admin) --------------------------------------------------------------
    def expire(self, session: Session, system: str, itype: str, tag: str) -> bool | None:
        self.check_system(system)
        if not self.is_admin(session, system):
            return False
        tag = normalize_tag(itype, tag)
        found = self.store.find(system=system, itype=itype, tag=tag) or [
            r for r in self.store.find(system=system, itype=itype, pulltag=tag)
            if r.status not in IN_PROGRESS]  # a running pull is not interrupted
        if not found:
            return None
        rec = found[0]
        self.store.update(rec.ident, {"status": "EXPIRING", "last_heartbeat": self.clock()})
        if self.runner is not None:
            self.runner.expire(rec)
        return True

    def autoexpire(self, session: Session, system: str) -> list[str] | bool:
        self.check_system(system)
        if not self.is_admin(session, system):
            return False
        now = self.clock()
        expired: list[str] = []
        for rec in self.store.find(system=system):
            if rec.status != "READY":
                if rec.status in ("EXPIRED", "EXPIRING") or rec.last_pull is None:
                    continue
                if now - rec.last_pull > self.config.pull_update_timeout and (
                        rec.status == "FAILURE" or pullable(rec, now, 0)):
                    self.store.delete(rec.ident)
                continue
            if rec.expiration is not None and rec.expiration < now:
                self.store.update(rec.ident, {"status": "EXPIRING", "last_heartbeat": now})
                if self.runner is not None:
                    self.runner.expire(rec)
                expired.append(rec.id)
        return expired
