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
* booleans must be ``0`` or ``1``; integers must be decimal; paths must be
  absolute (a trailing ``/`` is dropped); ``udiMount`` and ``loopMount`` may
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
    modules: dict[str, ModuleConfig] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# key -> (attribute, kind); kinds: path, str, bool, int, bytes, words,
# env, unset, urls, volumes, modlist, rootfs, propagation, imagetype
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
    "gatewayTimeout": ("gateway_timeout", "int"),
    "allowLocalChroot": ("allow_local_chroot", "bool"),
    "allowLibcPwdCalls": ("allow_libc_pwd_calls", "bool"),
    "populateEtcDynamically": ("populate_etc_dynamically", "bool"),
    "usersToImport": ("users_to_import", "words"),
    "mountUdiRootWritable": ("mount_udi_root_writable", "bool"),
    "maxGroupCount": ("max_group_count", "int"),
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
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
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


def parse_config(text: str, path: str = "<string>") -> UdiRootConfig:
    """Parse the text of a ``udiRoot.conf`` (no file checks)."""
    config = UdiRootConfig(path=path)
    seen: dict[str, int] = {}
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
    for name in config.default_modules:
        if name not in config.modules:
            raise ConfigError(path, seen.get("defaultModules"),
                              "defaultModules",
                              f"module '{name}' is not defined")
    return config


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
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise fail(f"'{value}' is not an absolute path")
        return value.rstrip("/") or "/"
    if kind == "bool":
        if value not in ("0", "1"):
            raise fail(f"expected 0 or 1, got '{value}'")
        return value == "1"
    if kind == "int":
        if not value.isdigit() or not value.isascii():
            raise fail(f"expected a non-negative integer, got '{value}'")
        return int(value)
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
        for word in words:
            if not word.startswith(("http://", "https://")):
                raise fail(f"'{word}' is not an http(s) URL")
        return [w.rstrip("/") for w in words]
    return words


def parse_env_word(word: str, fail) -> tuple[str, str]:
    """``NAME=VALUE`` with a non-empty name and value, as upstream demands."""
    name, sep, val = word.partition("=")
    if not sep or not name or not val:
        raise fail(f"'{word}': expected NAME=VALUE with a non-empty value")
    return name, val
