"""Sessions from the ``authentication`` header (a munge credential, §1.7).

The credential is decoded by libmunge (pymunge) against the platform's
``mungeSocketPath``; expired, replayed, rewound or invalid credentials -- and
credentials made with another cluster's key, which do not decode -- are
refused.  The payload may be ``{"authorized_locations": {loc|default:
"user:password"}}``: registry credentials for the pull.  A request without the
header gets an anonymous session (public images only), as upstream.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
from dataclasses import dataclass, field

AUTH_HEADER = "authentication"


class AuthError(Exception):
    """The credential was refused (``http`` 401) or could not be checked (503)."""

    def __init__(self, message: str, http: int = 401) -> None:
        super().__init__(message)
        self.http = http


@dataclass
class Session:
    """Who is asking, on which system, with which registry credentials."""

    system: str
    user: str | None = None
    uid: int | None = None
    gid: int | None = None
    group: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    _groups: tuple[int, ...] | None = field(default=None, repr=False)

    @property
    def anonymous(self) -> bool:
        return self.uid is None

    def groups(self) -> tuple[int, ...]:
        """Primary and supplementary gids of the user (as ``id -G``)."""
        if self._groups is None:
            gids: set[int] = set() if self.gid is None else {self.gid}
            if self.user is not None and self.gid is not None:
                try:
                    gids.update(os.getgrouplist(self.user, self.gid))
                except OSError:
                    pass
            self._groups = tuple(sorted(gids))
        return self._groups


def parse_payload(payload: bytes) -> dict[str, str]:
    """Registry credentials from a munge payload; anything else -> {}."""
    if not payload:
        return {}
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    locs = doc.get("authorized_locations") if isinstance(doc, dict) else None
    if not isinstance(locs, dict):
        return {}
    return {str(k): v for k, v in locs.items() if isinstance(v, str)}


def _names(uid: int, gid: int) -> tuple[str | None, str | None]:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = None
    return user, group


def decode_credential(credential: str, socket_path: str) -> tuple[bytes, int, int]:
    """(payload, uid, gid) of a munge credential; AuthError when refused."""
    import pymunge
    from pymunge import MungeErrorCode as Code

    reasons = {Code.EMUNGE_CRED_EXPIRED: "Expired Credential",
               Code.EMUNGE_CRED_REPLAYED: "Replayed Credential",
               Code.EMUNGE_CRED_REWOUND: "Credential from the future (rewound)",
               Code.EMUNGE_CRED_INVALID: "Invalid Credential"}
    try:
        with pymunge.MungeContext() as ctx:
            ctx.socket = socket_path
            payload, uid, gid = ctx.decode(credential.strip().encode("ascii"))
    except UnicodeEncodeError:
        raise AuthError("Invalid Credential: not ASCII") from None
    except pymunge.MungeError as exc:
        if exc.code in (Code.EMUNGE_SOCKET, Code.EMUNGE_TIMEOUT, Code.EMUNGE_SNAFU):
            raise AuthError(f"munge service unavailable on {socket_path}: {exc.message}",
                            http=503) from None
        raise AuthError(reasons.get(exc.code, f"Invalid Credential ({exc.message})")) from None
    return payload or b"", uid, gid


def authenticate(header: str | None, system: str, socket_path: str) -> Session:
    """Session for the request's ``authentication`` header on *system*."""
    if not header:
        return Session(system=system)
    payload, uid, gid = decode_credential(header, socket_path)
    user, group = _names(uid, gid)
    if user is None:
        raise AuthError(f"Unknown uid {uid} on the gateway host")
    return Session(system=system, user=user, uid=uid, gid=gid, group=group,
                   tokens=parse_payload(payload))
