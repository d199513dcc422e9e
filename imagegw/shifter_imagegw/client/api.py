"""``GatewayClient``: the gateway's REST API with failover and munge auth.

The runtime and the Slurm plugin import this to resolve tags to image ids, so
it only uses the standard library (``http.client``) and imports pymunge when
a credential is first needed.  Every answer is checked here, once: an answer
of the wrong shape (``imageGateway`` pointing at another HTTP service) is a
one-line :class:`GatewayError`, never a crash further up.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

DEFAULT_TIMEOUT = 60.0
# The gateway's statuses (shifter_imagegw.store.IN_PROGRESS; READY and FAILURE end a pull).
IN_PROGRESS = ("INIT", "PENDING", "PULLING", "EXAMINATION", "CONVERSION", "TRANSFER",
               "HASHING", "EXPIRING")
PULL_STATUSES = IN_PROGRESS + ("READY", "FAILURE")
T = TypeVar("T")


class GatewayError(Exception):
    """No gateway answered, or one answered with an error (``status``)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    """One gateway's reply: who answered, the HTTP status and the JSON (None when empty)."""

    base: str
    status: int
    doc: Any


class _BadShape(ValueError):
    """An answer that is not what the route returns; the message says what is wrong."""


# -- answer shapes: each returns the checked document or raises _BadShape --------------
def _got(value: Any) -> str:
    """A short rendering of an unexpected value (``nothing`` for null or absent)."""
    if value is None:
        return "nothing"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _need(ok: bool, key: str, want: str, value: Any) -> None:
    if not ok:
        raise _BadShape(f'"{key}": expected {want}, got {_got(value)}')


def _object(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _BadShape(f"expected a JSON object, got {_got(doc)}")
    return doc


def _is_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _image_record(doc: Any) -> dict[str, Any]:
    """lookup: a record with a string ``id`` and ``status``."""
    rec = _object(doc)
    for key in ("id", "status"):
        _need(isinstance(rec.get(key), str), key, "a string", rec.get(key))
    return rec


def _pull_record(doc: Any) -> dict[str, Any]:
    """pull and import: a record whose ``status`` is one of PULL_STATUSES, and byte counts."""
    rec = _object(doc)
    _need(rec.get("status") in PULL_STATUSES, "status", "a pull status", rec.get("status"))
    progress = rec.get("progress") or {}
    counts = ([progress.get(k, 0) for k in ("bytes_done", "bytes_total")]
              if isinstance(progress, dict) else [None])
    _need(all(type(n) is int and n >= 0 for n in counts), "progress", "byte counts", progress)
    return rec


def _image_list(doc: Any) -> list[dict[str, Any]]:
    """images: ``{"list": [records]}`` (upstream also took ``data``), tags strings."""
    body = _object(doc)
    records = body.get("list", body.get("data"))
    _need(_is_objects(records), "list", "a list of JSON objects", records)
    for rec in records:
        tag = rec.get("tag")
        _need(tag is None or isinstance(tag, str) or (
            isinstance(tag, list) and all(isinstance(t, str) for t in tag)),
            "tag", "a string or a list of strings", tag)
    return records


def _expire_status(doc: Any) -> bool | None:
    """expire: ``{"status": true | false | null}``."""
    body = _object(doc)
    status = body.get("status")
    _need("status" in body and (status is None or isinstance(status, bool)), "status",
          "true, false or null", status)
    return status


def _autoexpire_status(doc: Any) -> bool | list:
    """autoexpire: ``{"status": [expired ids] | false}``."""
    status = _object(doc).get("status")
    _need(isinstance(status, (bool, list)), "status", "a list of ids or false", status)
    return status


def _login_result(doc: Any) -> dict[str, Any]:
    """login: ``{"ok": bool, "message": str}``."""
    body = _object(doc)
    _need(isinstance(body.get("ok"), bool), "ok", "true or false", body.get("ok"))
    _need(isinstance(body.get("message", ""), str), "message", "a string", body.get("message"))
    return body


def _queue_list(doc: Any) -> list[dict[str, Any]]:
    """queue: ``{"list": [{"status", "image"}]}``."""
    records = _object(doc).get("list")
    _need(_is_objects(records), "list", "a list of JSON objects", records)
    return records


def _metrics_list(doc: Any) -> list[dict[str, Any]]:
    """metrics: a list of pull records."""
    if not _is_objects(doc):
        raise _BadShape(f"expected a list of JSON objects, got {_got(doc)}")
    return doc


def _gateway_error(doc: Any) -> str | None:
    """The reason in the gateway's error body ``{"status", "error", "message"}``."""
    reason = doc.get("error") if isinstance(doc, dict) else None
    return reason if isinstance(reason, str) and reason else None


def munge_credential(payload: bytes = b"", socket_path: str | None = None) -> str:
    """A fresh munge credential for the calling user."""
    import pymunge
    try:
        with pymunge.MungeContext() as ctx:
            if socket_path:
                ctx.socket = socket_path
            return ctx.encode(payload).decode("ascii")
    except pymunge.MungeError as exc:
        raise GatewayError(f"cannot create a munge credential: {exc.message}") from None


@dataclass
class GatewayClient:
    """All ``imageGateway`` URLs, tried in random order until one answers."""

    urls: list[str]
    timeout: float | None = None
    munge_socket: str | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    shuffle: bool = True

    def __post_init__(self) -> None:
        if not self.urls:
            raise GatewayError("no imageGateway configured")
        for url in self.urls:
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise GatewayError(f"imageGateway: {url!r} is not an http(s) URL")

    # -- transport -------------------------------------------------------------------
    def _auth_payload(self) -> bytes:
        if not self.credentials:
            return b""
        return json.dumps({"authorized_locations": self.credentials}).encode()

    def _once(self, base: str, method: str, path: str, body: bytes | None,
              auth: bool) -> Answer:
        parts = urllib.parse.urlsplit(base)
        conn_cls = (http.client.HTTPSConnection if parts.scheme == "https"
                    else http.client.HTTPConnection)
        conn = conn_cls(parts.netloc, timeout=self.timeout or DEFAULT_TIMEOUT)
        headers = {"Accept": "application/json"}
        if auth:
            headers["authentication"] = munge_credential(self._auth_payload(), self.munge_socket)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            raise GatewayError(f"{base}: answer is not JSON (HTTP {resp.status})",
                               resp.status) from None
        return Answer(base, resp.status, doc)

    def request(self, method: str, path: str, body: dict | None = None,
                auth: bool = True) -> Answer:
        """The answer of the first gateway that answers."""
        urls = list(self.urls)
        if self.shuffle:
            random.shuffle(urls)
        data = json.dumps(body).encode() if body is not None else None
        last = "no gateway tried"
        for base in urls:
            try:
                return self._once(base, method, path, data, auth)
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                last = f"{base}: {exc}"
        raise GatewayError(f"failed to contact the image gateway ({last})")

    @staticmethod
    def _path(mode: str, system: str, itype: str | None = None, tag: str | None = None) -> str:
        path = f"/api/{mode}/{urllib.parse.quote(system, safe='')}/"
        if itype is not None:
            path += (f"{urllib.parse.quote(itype, safe='')}/"
                     f"{urllib.parse.quote(tag or '', safe='')}/")
        return path

    @staticmethod
    def _check(answer: Answer, what: str, shape: Callable[[Any], T]) -> T:
        """The document of a 200 answer, checked by ``shape``; GatewayError otherwise."""
        if answer.status == 200:
            try:
                return shape(answer.doc)
            except _BadShape as exc:
                problem = str(exc)
        elif reason := _gateway_error(answer.doc):
            raise GatewayError(f"{what}: {reason}", answer.status)
        else:
            problem = f"HTTP {answer.status} without an error message"
        raise GatewayError(f"{answer.base}: unexpected answer from the image gateway "
                           f"({what}: {problem})", answer.status)

    @staticmethod
    def _acl_body(uids: list[int] | None, gids: list[int] | None) -> dict[str, str]:
        body = {}
        if uids:
            body["allowed_uids"] = ",".join(str(u) for u in uids)
        if gids:
            body["allowed_gids"] = ",".join(str(g) for g in gids)
        return body

    # -- operations ------------------------------------------------------------------
    def lookup(self, system: str, itype: str, tag: str) -> dict | None:
        """The image record, or None when the gateway does not know (or hide) it."""
        answer = self.request("GET", self._path("lookup", system, itype, tag))
        reason = _gateway_error(answer.doc)
        if answer.status == 404 and reason and "Invalid System" not in reason:
            return None
        return self._check(answer, f"lookup {itype}:{tag}", _image_record)

    def pull(self, system: str, itype: str, tag: str, uids: list[int] | None = None,
             gids: list[int] | None = None) -> dict:
        answer = self.request("POST", self._path("pull", system, itype, tag),
                              self._acl_body(uids, gids))
        return self._check(answer, f"pull {itype}:{tag}", _pull_record)

    def images(self, system: str) -> list[dict]:
        answer = self.request("GET", self._path("list", system))
        return self._check(answer, "images", _image_list)

    def expire(self, system: str, itype: str, tag: str) -> bool | None:
        answer = self.request("GET", self._path("expire", system, itype, tag))
        return self._check(answer, f"expire {itype}:{tag}", _expire_status)

    def autoexpire(self, system: str) -> bool | list:
        answer = self.request("GET", self._path("autoexpire", system))
        return self._check(answer, "autoexpire", _autoexpire_status)

    def doimport(self, system: str, itype: str, tag: str, filepath: str, fmt: str = "squashfs",
                 uids: list[int] | None = None, gids: list[int] | None = None) -> dict:
        body = {"filepath": filepath, "format": fmt, **self._acl_body(uids, gids)}
        answer = self.request("POST", self._path("doimport", system, itype, tag), body)
        return self._check(answer, f"import {itype}:{tag}", _pull_record)

    def login(self, system: str, location: str) -> dict:
        """Ask the gateway to check ``self.credentials[location]`` on the registry."""
        path = f"/api/login/{urllib.parse.quote(system, safe='')}/" \
               f"{urllib.parse.quote(location, safe='')}/"
        return self._check(self.request("POST", path, {}), f"login {location}", _login_result)

    list = images  # upstream's route name

    def queue(self, system: str) -> list[dict]:
        answer = self.request("GET", self._path("queue", system), auth=False)
        return self._check(answer, "queue", _queue_list)

    def metrics(self, system: str, limit: int = 10) -> list[dict]:
        answer = self.request("GET", self._path("metrics", system) + f"?limit={int(limit)}")
        return self._check(answer, "metrics", _metrics_list)
