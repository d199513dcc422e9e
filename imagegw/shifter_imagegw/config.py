"""Load and validate ``imagemanager.json`` (upstream's keys, inventory §1.9).

Every problem is reported as one :class:`ConfigError` whose message names the
file and the key, e.g. ``imagemanager.json: Platforms.lab.accesstype: must be
"local" or "remote"``.  Keys this implementation adds are ``CatalogPath`` (the
SQLite catalogue), ``Bind`` and ``GatewayWorkers`` (the gunicorn service) and
``HeartbeatTimeout`` (seconds without a heartbeat before an in-progress job is
resumed or failed by another gateway process).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONFIG = "/etc/shifter/imagemanager.json"
DEFAULT_PULL_UPDATE_TIMEOUT = 300.0
DEFAULT_EXPIRATION = "90:00:00:00"
KNOWN_FORMATS = ("squashfs",)
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "critical")

# Keys accepted but without effect here (present in upstream examples).
_IGNORED_KEYS = {"DefaultLustreReplication", "DefaultOstCount", "DefaultImageRemote",
                 "PullUpdateTime", "Broker"}
_TOP_KEYS = {"Platforms", "MongoDBURI", "MongoDB", "DefaultImageLocation", "DefaultImageFormat",
             "PullUpdateTimeout", "ImageExpirationTimeout", "CacheDirectory", "ExpandDirectory",
             "Locations", "ConverterOptions", "examiner", "Authentication", "Metrics",
             "ImportUsers", "LogLevel", "CatalogPath", "Bind", "GatewayWorkers",
             "WorkerThreads", "HeartbeatTimeout"} | _IGNORED_KEYS


class ConfigError(ValueError):
    """imagemanager.json is unreadable or invalid; the message names the key."""


@dataclass(frozen=True)
class PlatformConfig:
    """One ``Platforms.<name>`` entry."""

    name: str
    munge_socket: str
    accesstype: str
    image_dir: str
    admins: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class GatewayConfig:
    """Validated gateway configuration; ``raw`` keeps the whole document."""

    path: str
    platforms: dict[str, PlatformConfig]
    mongo_uri: str | None = None
    mongo_db: str = "Shifter"
    catalog_path: str = "/var/lib/shifter/imagegw.sqlite"
    default_location: str = "index.docker.io"
    default_format: str = "squashfs"
    pull_update_timeout: float = DEFAULT_PULL_UPDATE_TIMEOUT
    expiration_timeout: float = 90 * 86400.0
    cache_dir: str = "/var/cache/shifter/cache"
    expand_dir: str = "/var/cache/shifter/expand"
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    examiner: str | None = None
    metrics: bool = False
    import_users: tuple[str, ...] | str | None = None
    log_level: str = "info"
    bind: str = "127.0.0.1:8000"
    gateway_workers: int = 2
    worker_threads: int = 2
    heartbeat_timeout: float = 30.0
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def platform(self, system: str) -> PlatformConfig | None:
        return self.platforms.get(system)

    def may_import(self, user: str | None) -> bool:
        """``ImportUsers``: missing/"none" -> nobody, "all" -> anyone, else listed users."""
        if self.import_users is None or user is None:
            return False
        if self.import_users == "all":
            return True
        return user in self.import_users


def parse_duration(value: str, key: str) -> float:
    """``"D:H:M:S"`` (fewer fields allowed, leftmost dropped) -> seconds."""
    parts = str(value).split(":")
    if not 1 <= len(parts) <= 4 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"{key}: {value!r} is not D:H:M:S")
    scale = (1, 60, 3600, 86400)
    return float(sum(int(p) * scale[i] for i, p in enumerate(reversed(parts))))


def _need(doc: dict, key: str, kind: type | tuple[type, ...], where: str, default: Any = None,
          required: bool = False) -> Any:
    if key not in doc:
        if required:
            raise ConfigError(f"{where}{key}: required key is missing")
        return default
    value = doc[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}{key}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}{key}: expected {names}, got {type(value).__name__}")
    return value


def _platform(name: str, doc: Any) -> PlatformConfig:
    where = f"Platforms.{name}."
    if not isinstance(doc, dict):
        raise ConfigError(f"Platforms.{name}: expected an object")
    sock = _need(doc, "mungeSocketPath", str, where, "/var/run/munge/munge.socket.2")
    access = _need(doc, "accesstype", str, where, "local")
    if access == "local":
        local = _need(doc, "local", dict, where, required=True)
        image_dir = _need(local, "imageDir", str, where + "local.", required=True)
    elif access == "remote":
        ssh = _need(doc, "ssh", dict, where, required=True)
        image_dir = _need(ssh, "imageDir", str, where + "ssh.", required=True)
        hosts = _need(doc, "host", list, where, required=True)
        if not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise ConfigError(f"{where}host: expected a non-empty list of host names")
        _need(ssh, "username", str, where + "ssh.", required=True)
    else:
        raise ConfigError(f'{where}accesstype: must be "local" or "remote", got {access!r}')
    if not os.path.isabs(image_dir):
        raise ConfigError(f"{where}imageDir: {image_dir!r} is not an absolute path")
    admins = _need(doc, "admins", list, where, [])
    if not all(isinstance(a, str) for a in admins):
        raise ConfigError(f"{where}admins: expected a list of user names")
    _need(doc, "use_external", bool, where, False)
    return PlatformConfig(name, sock, access, image_dir, tuple(admins), doc)


def _import_users(doc: dict) -> tuple[str, ...] | str | None:
    value = _need(doc, "ImportUsers", (str, list), "", None)
    if value is None or value in ("None", "none"):
        return None
    if value == "all":
        return "all"
    if isinstance(value, str):
        return tuple(u for u in value.replace(",", " ").split() if u) or None
    if not all(isinstance(u, str) for u in value):
        raise ConfigError("ImportUsers: expected \"all\", \"none\" or a list of user names")
    return tuple(value) or None


def parse_config(doc: Any, path: str = "imagemanager.json") -> GatewayConfig:
    """Validate a decoded document; raises ConfigError prefixed with *path*."""
    try:
        return _parse(doc, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse(doc: Any, path: str) -> GatewayConfig:
    if not isinstance(doc, dict):
        raise ConfigError("top level: expected a JSON object")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key")
    platforms = _need(doc, "Platforms", dict, "", required=True)
    if not platforms:
        raise ConfigError("Platforms: at least one platform is required")
    parsed = {name: _platform(name, p) for name, p in platforms.items()}
    auth = _need(doc, "Authentication", str, "", "munge")
    if auth != "munge":
        raise ConfigError(f'Authentication: only "munge" is supported, got {auth!r}')
    fmt = _need(doc, "DefaultImageFormat", str, "", "squashfs")
    if fmt not in KNOWN_FORMATS:
        raise ConfigError(f"DefaultImageFormat: unsupported format {fmt!r}")
    timeout = _need(doc, "PullUpdateTimeout", (int, float), "", DEFAULT_PULL_UPDATE_TIMEOUT)
    if timeout < 0:
        raise ConfigError("PullUpdateTimeout: must be >= 0 seconds")
    expiration = parse_duration(_need(doc, "ImageExpirationTimeout", str, "", DEFAULT_EXPIRATION),
                                "ImageExpirationTimeout")
    locations = _need(doc, "Locations", dict, "", {})
    for loc, spec in locations.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"Locations.{loc}: expected an object")
        method = spec.get("authMethod", "token")
        if method not in ("token", "basic"):
            raise ConfigError(f'Locations.{loc}.authMethod: must be "token" or "basic"')
    conv = _need(doc, "ConverterOptions", dict, "", {})
    for fmt_name, opts in conv.items():
        if not isinstance(opts, (str, list)):
            raise ConfigError(f"ConverterOptions.{fmt_name}: expected a string or a list")
    level = _need(doc, "LogLevel", str, "", "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LogLevel: must be one of {', '.join(LOG_LEVELS)}")
    workers = _need(doc, "GatewayWorkers", int, "",
                    int(os.environ.get("WORKERS", max(2, os.cpu_count() or 2))))
    if workers < 1:
        raise ConfigError("GatewayWorkers: must be >= 1")
    threads = _need(doc, "WorkerThreads", int, "", 2)
    if threads < 1:
        raise ConfigError("WorkerThreads: must be >= 1")
    stale = _need(doc, "HeartbeatTimeout", (int, float), "", 30.0)
    if stale < 1:
        raise ConfigError("HeartbeatTimeout: must be >= 1 second")
    bind = _need(doc, "Bind", str, "", "127.0.0.1:8000")
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Bind: {bind!r} is not host:port")
    cache = _need(doc, "CacheDirectory", str, "", "/var/cache/shifter/cache")
    dirs = {"CacheDirectory": cache,
            "ExpandDirectory": _need(doc, "ExpandDirectory", str, "", "/var/cache/shifter/expand"),
            "CatalogPath": _need(doc, "CatalogPath", str, "", "/var/lib/shifter/imagegw.sqlite")}
    for key, value in dirs.items():
        if not os.path.isabs(value):
            raise ConfigError(f"{key}: {value!r} is not an absolute path")
    mongo = _need(doc, "MongoDBURI", str, "", None) or None
    examiner = _need(doc, "examiner", str, "", None) or None
    if examiner and not os.path.isabs(examiner):
        raise ConfigError(f"examiner: {examiner!r} is not an absolute path")
    return GatewayConfig(
        path=path, platforms=parsed, mongo_uri=mongo,
        mongo_db=_need(doc, "MongoDB", str, "", "Shifter"),
        catalog_path=dirs["CatalogPath"],
        default_location=_need(doc, "DefaultImageLocation", str, "", "index.docker.io"),
        default_format=fmt, pull_update_timeout=float(timeout), expiration_timeout=expiration,
        cache_dir=cache, expand_dir=dirs["ExpandDirectory"], locations=locations,
        examiner=examiner,
        metrics=_need(doc, "Metrics", bool, "", False), import_users=_import_users(doc),
        log_level=level, bind=bind, gateway_workers=workers,
        worker_threads=threads, heartbeat_timeout=float(stale), raw=doc)


def load_config(path: str | None = None) -> GatewayConfig:
    """Read ``$GWCONFIG`` or *path* (default /etc/shifter/imagemanager.json)."""
    path = path or os.environ.get("GWCONFIG") or DEFAULT_CONFIG
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return parse_config(doc, path)
