"""Registry credentials stored by ``shifterimg login`` in ``~/.udiRoot/.cred``.

One line per ``(system, location)``: ``<system>:<location>=<munge credential>``
whose payload is ``user:password`` (upstream's format).  The file is mode
0600 in a 0700 directory.  A stored credential is used only if it decodes
(expired and replayed are fine: it is a sealed envelope, not a login) and was
made by the calling user.
"""
from __future__ import annotations

import os
from pathlib import Path


def cred_file(home: str | None = None) -> Path:
    return Path(home or os.path.expanduser("~")) / ".udiRoot" / ".cred"


def read_entries(path: Path) -> dict[tuple[str, str], str]:
    """``(system, location) -> credential`` from the file (missing file: {})."""
    entries: dict[tuple[str, str], str] = {}
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        key, sep, cred = line.partition("=")
        system, sep2, location = key.partition(":")
        if sep and sep2 and system and location and cred:
            entries[(system, location)] = cred.strip()
    return entries


def write_entries(path: Path, entries: dict[tuple[str, str], str]) -> None:
    """Rewrite the file atomically with mode 0600 (directory 0700)."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".cred.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        for (system, location), cred in sorted(entries.items()):
            fh.write(f"{system}:{location}={cred}\n")
    os.replace(tmp, path)


def unseal(cred: str, socket_path: str | None = None) -> str | None:
    """``user:password`` from a stored credential of the calling user, else None."""
    import pymunge
    from pymunge import MungeErrorCode as Code

    try:
        with pymunge.MungeContext() as ctx:
            if socket_path:
                ctx.socket = socket_path
            payload, uid, _gid = ctx.decode(cred.encode("ascii"))
    except pymunge.MungeError as exc:
        if exc.code not in (Code.EMUNGE_CRED_EXPIRED, Code.EMUNGE_CRED_REPLAYED) or not exc.result:
            return None
        payload, uid, _gid = exc.result
    except UnicodeEncodeError:
        return None
    if uid != os.getuid() or not payload:
        return None
    return payload.decode("utf-8", errors="replace")


def credentials_for(system: str, path: Path | None = None,
                    socket_path: str | None = None) -> dict[str, str]:
    """``location -> "user:password"`` usable for *system*."""
    out = {}
    for (sys_name, location), cred in read_entries(path or cred_file()).items():
        if sys_name == system:
            secret = unseal(cred, socket_path)
            if secret:
                out[location] = secret
    return out
