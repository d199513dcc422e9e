"""``udiRoot.conf``: the site configuration of the runtime.

Format (upstream ``UdiRootConfig.c``): ``key=value`` lines, whitespace around
key and value trimmed; lines whose first non-blank character is ``#`` are
comments; a trailing ``\\`` continues the value on the next line (joined with
one space).  List keys are space separated (``siteFs`` entries by ``;`` or
spaces, ``defaultModules`` by commas) and repeating them appends.

Decisions (documented, tested):

* an unknown key is an error (as upstream); deprecated keys
  (``autoLoadKernelModule``, ``kmodBasePath``, ``kmodCacheFile``,
  ``optionalSshdAsRoot``, ``kmodPath``) and ``nodeContextPrefix`` are accepted
  with a warning in :attr:`UdiRootConfig.warnings`;
* repeating a single-valued key keeps the last value, with a warning;
* an empty value leaves the key unset;
* a control character other than tab anywhere in a line (a NUL byte would
  only fail later, in a system call) is an error;
* booleans must be ``0`` or ``1``; integers must be decimal and within the
  key's range; paths must be absolute, without blanks (a trailing ``/`` is
  dropped); ``imageGateway`` URLs must be http(s) with a host and a valid
  port; ``udiMount`` and ``loopMount`` may
  not be ``/`` nor nested in each other (``unsetupRoot`` unmounts them
  recursively); ``rootfsType`` is ``tmpfs`` or ``ramfs``;
  ``mountPropagationStyle`` is ``private`` or ``slave``; ``defaultImageType``
  must be a known image type;
* required keys: ``udiMount``, ``loopMount``, ``imagePath``, ``udiRootPath``,
  ``etcPath``, ``rootfsType``.  Upstream also requires the paths of the tools
  it executes (``modprobePath``, ``cpPath`` ...); this runtime runs none of
  them, so they are accepted and kept but optional.

Every error is a :class:`~shifter_runtime.errors.ConfigError` reading
``file:line: key: problem``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import ConfigError, VolumeError
from .launchenv import CONFIG_ENV, DEFAULT_CONFIG, config_path  # noqa: F401 (re-exported)
from .volumes import VolumeMount, parse_bytes, parse_volumes

IMAGE_TYPES = ("docker", "custom", "id", "local")
REQUIRED_KEYS = ("udiMount", "loopMount", "imagePath", "udiRootPath",
                 "etcPath", "rootfsType")
DEPRECATED_KEYS = ("autoLoadKernelModule", "kmodBasePath", "kmodPath",
                   "kmodCacheFile", "optionalSshdAsRoot", "nodeContextPrefix")
MAX_GATEWAY_TIMEOUT = 86400  # seconds: one day
MAX_GROUP_COUNT = 65536  # Linux NGROUPS_MAX
MODULE_SUBKEYS = ("userhook", "roothook", "siteEnv", "siteEnvPrepend",
                  "siteEnvAppend", "siteEnvUnset", "conflict", "siteFs",
                  "copyPath", "enabled")


@dataclass
class ModuleConfig:
    """One site module, from the ``module_<name>_<subkey>`` keys."""

    name: str
    userhook: str | None = None
    roothook: str | None = None
    site_env: list[tuple[str, str]] = field(default_factory=list)
    site_env_append: list[tuple[str, str]] = field(default_factory=list)
    site_env_prepend: list[tuple[str, str]] = field(default_factory=list)
    site_env_unset: list[str] = field(default_factory=list)
    conflict: list[str] = field(default_factory=list)
    site_fs: list[VolumeMount] = field(default_factory=list)
    copy_path: str | None = None
    enabled: bool = True


@dataclass
class UdiRootConfig:
    """Every documented ``udiRoot.conf`` key, typed (camelCase -> snake)."""

    path: str = "<string>"
    udi_mount: str = ""
    loop_mount: str = ""
    image_path: str = ""
    udi_root_path: str = ""
    etc_path: str = ""
    rootfs_type: str = ""
    modprobe_path: str | None = None
    insmod_path: str | None = None
    cp_path: str | None = None
    mv_path: str | None = None
    chmod_path: str | None = None
    dd_path: str | None = None
    mkfs_xfs_path: str | None = None
    opt_udi_image: str | None = None
    site_pre_mount_hook: str | None = None
    site_post_mount_hook: str | None = None
    site_fs: list[VolumeMount] = field(default_factory=list)
    site_env: list[tuple[str, str]] = field(default_factory=list)
    site_env_append: list[tuple[str, str]] = field(default_factory=list)
    site_env_prepend: list[tuple[str, str]] = field(default_factory=list)
    site_env_unset: list[str] = field(default_factory=list)
    image_gateway: list[str] = field(default_factory=list)
    system: str | None = None
    default_image_type: str | None = None
    gateway_timeout: int | None = None
    allow_local_chroot: bool = False
    allow_libc_pwd_calls: bool = False
    populate_etc_dynamically: bool = False
    users_to_import: list[str] = field(default_factory=list)
    mount_udi_root_writable: bool = False  # False: remount read-only
    max_group_count: int = 0
    mount_propagation_style: str = "private"
    per_node_cache_path: str | None = None
    per_node_cache_size_limit: int = 0
    per_node_cache_allowed_fs_type: list[str] = field(default_factory=list)
    batch_type: str | None = None
    default_modules: list[str] = field(default_factory=list)
    default_modules_origin: str = "defaultModules"  # FILE:LINE: defaultModules
    modules: dict[str, ModuleConfig] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# key -> (attribute, kind); kinds: path, str, bool, seconds, count, bytes,
# words, env, unset, urls, volumes, modlist, rootfs, propagation, imagetype
_KEYS: dict[str, tuple[str, str]] = {
    "udiMount": ("udi_mount", "path"),
    "loopMount": ("loop_mount", "path"),
    "imagePath": ("image_path", "path"),
    "udiRootPath": ("udi_root_path", "path"),
    "etcPath": ("etc_path", "path"),
    "rootfsType": ("rootfs_type", "rootfs"),
    "modprobePath": ("modprobe_path", "path"),
    "insmodPath": ("insmod_path", "path"),
    "cpPath": ("cp_path", "path"),
    "mvPath": ("mv_path", "path"),
    "chmodPath": ("chmod_path", "path"),
    "ddPath": ("dd_path", "path"),
    "mkfsXfsPath": ("mkfs_xfs_path", "path"),
    "optUdiImage": ("opt_udi_image", "path"),
    "sitePreMountHook": ("site_pre_mount_hook", "path"),
    "sitePostMountHook": ("site_post_mount_hook", "path"),
    "siteFs": ("site_fs", "volumes"),
    "siteEnv": ("site_env", "env"),
    "siteEnvAppend": ("site_env_append", "env"),
    "siteEnvPrepend": ("site_env_prepend", "env"),
    "siteEnvUnset": ("site_env_unset", "unset"),
    "imageGateway": ("image_gateway", "urls"),
    "system": ("system", "str"),
    "defaultImageType": ("default_image_type", "imagetype"),
    "gatewayTimeout": ("gateway_timeout", "seconds"),
    "allowLocalChroot": ("allow_local_chroot", "bool"),
    "allowLibcPwdCalls": ("allow_libc_pwd_calls", "bool"),
    "populateEtcDynamically": ("populate_etc_dynamically", "bool"),
    "usersToImport": ("users_to_import", "words"),
    "mountUdiRootWritable": ("mount_udi_root_writable", "bool"),
    "maxGroupCount": ("max_group_count", "count"),
    "mountPropagationStyle": ("mount_propagation_style", "propagation"),
    "perNodeCachePath": ("per_node_cache_path", "path"),
    "perNodeCacheSizeLimit": ("per_node_cache_size_limit", "bytes"),
    "perNodeCacheAllowedFsType": ("per_node_cache_allowed_fs_type", "words"),
    "batchType": ("batch_type", "str"),
    "defaultModules": ("default_modules", "modlist"),
}
_MODULE_KEYS: dict[str, tuple[str, str]] = {
    "userhook": ("userhook", "path"),
    "roothook": ("roothook", "path"),
    "siteEnv": ("site_env", "env"),
    "siteEnvPrepend": ("site_env_prepend", "env"),
    "siteEnvAppend": ("site_env_append", "env"),
    "siteEnvUnset": ("site_env_unset", "unset"),
    "conflict": ("conflict", "words"),
    "siteFs": ("site_fs", "volumes"),
    "copyPath": ("copy_path", "path"),
    "enabled": ("enabled", "bool"),
}
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789.-_")
_INT_MAX = {"seconds": MAX_GATEWAY_TIMEOUT, "count": MAX_GROUP_COUNT}
_LIST_KINDS = frozenset({"words", "env", "unset", "urls", "volumes",
                         "modlist"})


def load_config(path: str, check_owner: bool = True) -> UdiRootConfig:
    """Read, check and parse a ``udiRoot.conf``.

    With ``check_owner`` the file must be owned by uid 0 and not writable by
    group or others.  Raises ConfigError naming the file.
    """
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read()
    except OSError as err:
        raise ConfigError(path, None, None,
                          f"cannot read: {err.strerror}") from None
    if check_owner:
        check_file_owner(path, info.st_uid, info.st_mode)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(path, None, None,
                          f"not UTF-8 text (byte {err.start})") from None
    return parse_config(text, path)


def check_file_owner(path: str, uid: int, mode: int) -> None:
    """Refuse a config not owned by root or writable by group/others."""
    if uid != 0:
        raise ConfigError(path, None, None,
                          f"must be owned by root (owner uid is {uid})")
    if mode & 0o022:
        raise ConfigError(path, None, None,
                          f"must not be group or world writable "
                          f"(mode {mode & 0o7777:04o})")


def _logical_lines(text: str, path: str) -> list[tuple[int, str]]:
    """Join ``\\``-continued lines; drop blanks and comments."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    head = ""  # the first line of the logical line: it names the key in errors
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not pending:
            head = line
        _check_controls(raw, path, number, head)
        if not pending:
            if not line or line.startswith("#"):
                continue
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        raise ConfigError(path, start, None,
                          "continuation '\\' at end of file")
    return out


def _line_key(line: str) -> str | None:
    """The key of a ``key=value`` line, if it is clean enough to print."""
    key, sep, _ = line.partition("=")
    key = key.strip()
    if not sep or not key or key.startswith("#") or _first_control(key) >= 0:
        return None
    return key


def _first_control(text: str) -> int:
    """Index of the first control character other than tab, or -1."""
    for index, char in enumerate(text):
        if (char < " " and char != "\t") or "\x7f" <= char <= "\x9f":
            return index
    return -1


def _check_controls(raw: str, path: str, number: int, head: str) -> None:
    """Refuse a control character (NUL, ESC, a lone CR ...) in a line; the
    CR of a CRLF line end is allowed.  ``head`` is the first line of the logical
    line, whose key the error names."""
    if raw.isprintable():  # the usual line: no scan in Python
        return
    index = _first_control(raw[:-1] if raw.endswith("\r") else raw)
    if index >= 0:
        raise ConfigError(path, number, _line_key(head),
                          f"control character U+{ord(raw[index]):04X} at "
                          f"column {index + 1} (only tab is allowed)")


def parse_config(text: str, path: str = "<string>") -> UdiRootConfig:
    """Parse the text of a ``udiRoot.conf`` (no file checks)."""
    config = UdiRootConfig(path=path)
    seen: dict[str, int] = {}
    default_lines: dict[str, int] = {}
    conflicts: list[tuple[int, str, ModuleConfig]] = []
    for number, line in _logical_lines(text, path):
        key, sep, value = line.partition("=")
        key = key.strip()
        value = value.strip()
        if not sep or not key:
            raise ConfigError(path, number, key or line,
                              "expected key=value")
        if key.startswith("module_"):
            module = _assign_module(config, key, value, path, number)
            if key.endswith("_conflict"):
                conflicts.append((number, key, module))
            continue
        if key in DEPRECATED_KEYS:
            config.warnings.append(
                f"{path}:{number}: {key}: deprecated, ignored")
            continue
        if key not in _KEYS:
            raise ConfigError(path, number, key, "unknown key")
        attr, kind = _KEYS[key]
        if kind not in _LIST_KINDS and key in seen and value:
            config.warnings.append(
                f"{path}:{number}: {key}: repeated (line {seen[key]}), "
                f"last value wins")
        seen[key] = number
        _assign(config, attr, kind, value, path, number, key)
        if key == "defaultModules":
            for name in config.default_modules:
                default_lines.setdefault(name, number)
    for number, key, module in conflicts:
        for other in module.conflict:
            if other not in config.modules:
                raise ConfigError(path, number, key,
                                  f"conflicting module '{other}' is not "
                                  f"defined")
    for key in REQUIRED_KEYS:
        if not getattr(config, _KEYS[key][0]):
            raise ConfigError(path, None, key, "required key is not defined")
    _check_mount_points(config, path, seen)
    _check_default_modules(config, path, default_lines)
    return config


def _check_default_modules(config: UdiRootConfig, path: str,
                           lines: dict[str, int]) -> None:
    """Every ``defaultModules`` name is defined; a disabled one is allowed
    (only launches using the defaults fail), and
    ``default_modules_origin`` then names the line of the first, which is
    the one ``resolve_modules`` reports."""
    for name in config.default_modules:
        if name not in config.modules:
            raise ConfigError(path, lines[name], "defaultModules",
                              f"module '{name}' is not defined")
    for name in config.default_modules:
        if not config.modules[name].enabled:
            config.default_modules_origin = \
                f"{path}:{lines[name]}: defaultModules"
            return


def _check_mount_points(config: UdiRootConfig, path: str,
                        seen: dict[str, int]) -> None:
    """``udiMount`` and ``loopMount`` are torn down recursively by
    ``unsetupRoot``: neither may be ``/`` nor contain the other."""
    udi, loop = config.udi_mount, config.loop_mount
    for key, value in (("udiMount", udi), ("loopMount", loop)):
        if value == "/":
            raise ConfigError(path, seen.get(key), key, "must not be '/'")
    if udi == loop or udi.startswith(loop + "/") \
            or loop.startswith(udi + "/"):
        raise ConfigError(path, seen.get("loopMount"), "loopMount",
                          f"'{loop}' and udiMount '{udi}' must be separate "
                          f"directories")


def _assign_module(config: UdiRootConfig, key: str, value: str, path: str,
                   number: int) -> ModuleConfig:
    parts = key.split("_")
    if len(parts) != 3 or not parts[1] or parts[2] not in _MODULE_KEYS:
        raise ConfigError(path, number, key,
                          "expected module_<name>_<subkey> with subkey one of "
                          + ", ".join(MODULE_SUBKEYS))
    name = parts[1]
    if not name.isalnum() or not name.isascii():
        raise ConfigError(path, number, key,
                          f"module name '{name}' must be letters and digits")
    if name == "none":
        raise ConfigError(path, number, key, "'none' is not a module name")
    module = config.modules.setdefault(name, ModuleConfig(name=name))
    attr, kind = _MODULE_KEYS[parts[2]]
    _assign(module, attr, kind, value, path, number, key)
    return module


def _assign(target: object, attr: str, kind: str, value: str, path: str,
            number: int, key: str) -> None:
    """Convert ``value`` by ``kind`` and store/append it on ``target``."""
    def fail(msg: str) -> ConfigError:
        return ConfigError(path, number, key, msg)

    if not value:
        return
    if kind in _LIST_KINDS:
        getattr(target, attr).extend(_convert_list(kind, value, fail))
        return
    setattr(target, attr, _convert_scalar(kind, value, fail))


def _convert_scalar(kind: str, value: str, fail) -> object:
    if kind == "path":
        return _convert_path(value, fail)
    if kind == "bool":
        if value not in ("0", "1"):
            raise fail(f"expected 0 or 1, got '{value}'")
        return value == "1"
    if kind in _INT_MAX:
        return _convert_int(value, _INT_MAX[kind], fail)
    if kind == "bytes":
        try:
            return parse_bytes(value)
        except ValueError as err:
            raise fail(str(err)) from None
    if kind == "rootfs":
        if value not in ("tmpfs", "ramfs"):
            raise fail(f"expected tmpfs or ramfs, got '{value}'")
        return value
    if kind == "propagation":
        if value not in ("private", "slave"):
            raise fail(f"expected private or slave, got '{value}'")
        return value
    if kind == "imagetype":
        if value not in IMAGE_TYPES:
            raise fail(f"unknown image type '{value}' (expected one of "
                       f"{', '.join(IMAGE_TYPES)})")
        return value
    if any(c.isspace() for c in value):
        raise fail(f"'{value}' must be a single word")
    return value


def _convert_path(value: str, fail) -> str:
    """An absolute path without blanks; a trailing ``/`` is dropped."""
    if not value.startswith("/"):
        raise fail(f"'{value}' is not an absolute path")
    if any(c.isspace() for c in value):
        raise fail(f"'{value}': a path may not contain blanks")
    return value.rstrip("/") or "/"


def _convert_int(value: str, maximum: int, fail) -> int:
    """Decimal digits, 0 to ``maximum`` (checked before converting, so a
    thousand digits cannot reach ``int()``)."""
    if not value.isdigit() or not value.isascii():
        raise fail(f"expected a non-negative integer, got '{value}'")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise fail(f"'{value}' is out of range (0 to {maximum})")
    return int(digits)


def _check_gateway(url: str, fail) -> str:
    """An ``imageGateway`` URL, ``http(s)://host[:port][/path]`` with a port
    from 1 to 65535, returned without a trailing ``/``.  Checked by hand
    (importing ``urllib.parse`` would cost every launch 9 ms) and strictly
    enough that the gateway client's ``urlsplit`` cannot fail on it later."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise fail(f"'{url}' is not an http(s) URL")
    if "?" in rest or "#" in rest:
        raise fail(f"'{url}': a query or fragment is not allowed")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        raise fail(f"'{url}': a user name in the URL is not supported")
    port = _host_port(authority, url, fail)
    if port is not None and not (port.isdigit() and port.isascii()
                                 and len(port) <= 5
                                 and 1 <= int(port) <= 65535):
        raise fail(f"'{url}': the port must be a number from 1 to 65535")
    return url.rstrip("/")


def _host_port(authority: str, url: str, fail) -> str | None:
    """Check the host of ``host[:port]`` (or ``[ipv6][:port]``); return the
    port text, or None when there is no ``:``."""
    if authority.startswith("["):
        host, close, after = authority[1:].partition("]")
        if not close:
            raise fail(f"'{url}': '[' without ']' in the host")
        import ipaddress  # rare: only for a literal IPv6 host
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise fail(f"'{url}': '{host}' is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise fail(f"'{url}': '{after}' after the host")
        return after[1:] if after else None
    host, colon, port = authority.partition(":")
    if not host:
        raise fail(f"'{url}' has no host")
    bad = [c for c in host if c not in _HOST_CHARS]
    if bad:
        raise fail(f"'{url}': character '{bad[0]}' not allowed in the host")
    return port if colon else None


def _convert_list(kind: str, value: str, fail) -> list:
    if kind == "volumes":
        try:
            return parse_volumes(";".join(value.split()), site=True)
        except VolumeError as err:
            raise fail(str(err)) from None
    if kind == "modlist":
        names = [n.strip() for n in value.split(",") if n.strip()]
        for name in names:
            if not name.isalnum():
                raise fail(f"bad module name '{name}'")
        return names
    words = value.split()
    if kind == "env":
        return [parse_env_word(word, fail) for word in words]
    if kind == "unset":
        for word in words:
            if "=" in word:
                raise fail(f"'{word}': expected a variable name")
        return words
    if kind == "urls":
        return [_check_gateway(word, fail) for word in words]
    return words


def parse_env_word(word: str, fail) -> tuple[str, str]:
    """``NAME=VALUE`` with a non-empty name and value, as upstream demands."""
    name, sep, val = word.partition("=")
    if not sep or not name or not val:
        raise fail(f"'{word}': expected NAME=VALUE with a non-empty value")
    return name, val
