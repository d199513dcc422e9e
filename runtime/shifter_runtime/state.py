"""``<udiMount>/var/shifterConfig.json``: what a prepared container holds.

Upstream writes exactly (no spaces, no trailing newline)::

    {"identifier":"<id>","user":"<user>","volMap":"<sig>","modules":"<m,>"}

and decides reuse by comparing those bytes with the ones it would write for
the current request (``memcmp``).  ``volMap`` is
:func:`~shifter_runtime.volumes.volume_signature` of the *user* volumes and
``modules`` is :func:`~shifter_runtime.modules.modules_signature`.
"""
from __future__ import annotations

from dataclasses import dataclass

STATE_FILE = "var/shifterConfig.json"
_KEYS = ("identifier", "user", "volMap", "modules")


def _quote(value: str) -> str:
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class ContainerState:
    """The four fields of ``shifterConfig.json``."""

    identifier: str
    user: str
    vol_map: str = ""
    modules: str = ""

    def to_json(self) -> str:
        """Upstream's exact text (JSON, no spaces, no newline)."""
        values = (self.identifier, self.user, self.vol_map, self.modules)
        body = ",".join(f'"{k}":{_quote(v)}' for k, v in zip(_KEYS, values))
        return "{" + body + "}"

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")


def parse_state(data: bytes | str) -> ContainerState | None:
    """Parse a state file; None if it is not a well-formed state record."""
    import json
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or sorted(obj) != sorted(_KEYS) \
            or not all(isinstance(obj[k], str) for k in _KEYS):
        return None
    return ContainerState(obj["identifier"], obj["user"], obj["volMap"],
                          obj["modules"])


def matches(state: bytes | str | None, request: ContainerState) -> bool:
    """True when the prepared container (file content ``state``) is exactly
    what ``request`` needs (same image id, user, volumes and modules).
    A trailing newline in the file is tolerated."""
    if state is None:
        return False
    if isinstance(state, str):
        state = state.encode("utf-8")
    return state.rstrip(b"\n") == request.to_bytes()
