"""``GatewayClient``: the gateway's REST API with failover and munge auth.

The runtime and the Slurm plugin import this to resolve tags to image ids, so
it only uses the standard library (``http.client``) and imports pymunge when
a credential is first needed.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 60.0
IN_PROGRESS = ("MISSING", "INIT", "PENDING", "PULLING", "EXAMINATION", "CONVERSION",
               "TRANSFER", "HASHING")


class GatewayError(Exception):
    """No gateway answered, or one answered with an error (``status``)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
              auth: bool) -> tuple[int, Any]:
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
        return resp.status, doc

    def request(self, method: str, path: str, body: dict | None = None,
                auth: bool = True) -> tuple[int, Any]:
        """(HTTP status, decoded JSON) from the first gateway that answers."""
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
    def _check(status: int, doc: Any, what: str) -> Any:
        if status != 200:
            reason = doc.get("error") if isinstance(doc, dict) else None
            raise GatewayError(f"{what}: {reason or 'HTTP ' + str(status)}", status)
        return doc

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
        status, doc = self.request("GET", self._path("lookup", system, itype, tag))
        if status == 404 and not (isinstance(doc, dict) and "Invalid System" in
                                  str(doc.get("error"))):
            return None
        return self._check(status, doc, f"lookup {itype}:{tag}")

    def pull(self, system: str, itype: str, tag: str, uids: list[int] | None = None,
             gids: list[int] | None = None) -> dict:
        status, doc = self.request("POST", self._path("pull", system, itype, tag),
                                   self._acl_body(uids, gids))
        return self._check(status, doc, f"pull {itype}:{tag}")

    def images(self, system: str) -> list[dict]:
        status, doc = self.request("GET", self._path("list", system))
        doc = self._check(status, doc, "images")
        return doc.get("list", doc.get("data", [])) if isinstance(doc, dict) else []

    def expire(self, system: str, itype: str, tag: str) -> Any:
        status, doc = self.request("GET", self._path("expire", system, itype, tag))
        return self._check(status, doc, f"expire {itype}:{tag}").get("status")

    def autoexpire(self, system: str) -> Any:
        status, doc = self.request("GET", self._path("autoexpire", system))
        return self._check(status, doc, "autoexpire").get("status")

    def doimport(self, system: str, itype: str, tag: str, filepath: str, fmt: str = "squashfs",
                 uids: list[int] | None = None, gids: list[int] | None = None) -> dict:
        body = {"filepath": filepath, "format": fmt, **self._acl_body(uids, gids)}
        status, doc = self.request("POST", self._path("doimport", system, itype, tag), body)
        return self._check(status, doc, f"import {itype}:{tag}")

    def login(self, system: str, location: str) -> dict:
        """Ask the gateway to check ``self.credentials[location]`` on the registry."""
        path = f"/api/login/{urllib.parse.quote(system, safe='')}/" \
               f"{urllib.parse.quote(location, safe='')}/"
        status, doc = self.request("POST", path, {})
        return self._check(status, doc, f"login {location}")

    list = images  # upstream's route name

    def queue(self, system: str) -> list[dict]:
        status, doc = self.request("GET", self._path("queue", system), auth=False)
        return self._check(status, doc, "queue").get("list", [])

    def metrics(self, system: str, limit: int = 10) -> list[dict]:
        status, doc = self.request("GET", self._path("metrics", system) + f"?limit={int(limit)}")
        return self._check(status, doc, "metrics")
