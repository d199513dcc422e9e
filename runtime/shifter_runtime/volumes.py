"""Volume maps: ``--volume``/``SHIFTER_VOLUME``/``siteFs`` syntax and rules.

Syntax (upstream ``VolumeMap.c``): entries separated by ``;``, each optionally
wrapped in double quotes, ``from:to[:flag[:flag...]]``.  Flags are
case-insensitive: ``ro``, ``rec``, ``slave``, ``private`` and
``perNodeCache=size=<N>[,bs=<N>][,method=loop][,fs=xfs]``.  Site maps may give
only ``from`` (``to`` is then ``from``); user maps need both.

Decisions that differ from upstream (deliberately, all stricter):

* characters outside ``[A-Za-z0-9_.+-/]`` in a path are an error naming the
  character, instead of being silently dropped;
* ``..`` is refused as a path component, both paths must be absolute, and a
  trailing ``/`` or doubled ``//`` is normalised away (issue #265);
* ``/`` is never a valid target, and user targets may not lie under
  ``/proc``, ``/sys`` or ``/dev`` either (upstream's help text promises
  ``/dev`` and ``/proc``; its code forgot);
* a target given twice in one map is an error;
* ``perNodeCacheSizeLimit`` and ``perNodeCacheAllowedFsType`` are enforced by
  :func:`check_per_node_cache` (upstream parses them and ignores them);
* a ``perNodeCache`` size below mkfs.xfs's minimum (300 MiB) is refused here
  rather than by ``mkfs.xfs`` during the build.

The *signature* of a user map (:func:`volume_signature`) is upstream's
``volMap`` string written in ``var/shifterConfig.json``: canonical entries
sorted and joined with ``;``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import VolumeError

FLAG_ORDER = ("ro", "rec", "slave", "private")
USER_FLAGS = frozenset({"ro", "pernodecache"})
DEFAULT_PNC_BS = 1 << 20
XFS_MIN_SIZE = 300 << 20  # mkfs.xfs: "Filesystem must be larger than 300MB."
MAX_BYTES = (1 << 63) - 1  # the largest file size (off_t)
_PATH_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-/")
_BYTE_SUFFIX = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
_SITE_FORBIDDEN = ("/opt", "/etc", "/var", "/etc/passwd", "/etc/group",
                   "/etc/nsswitch.conf")
_USER_FORBIDDEN_PREFIX = ("/etc", "/var", "/opt/udiImage")
_USER_FORBIDDEN_TREES = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class PerNodeCache:
    """A per-node scratch filesystem request (``perNodeCache=...``)."""

    size: int
    bs: int = DEFAULT_PNC_BS
    method: str = "loop"
    fstype: str = "xfs"

    def signature(self) -> str:
        """Canonical text, as upstream writes it in the volume signature."""
        return (f"perNodeCache=size={self.size},bs={self.bs},"
                f"method={self.method},fstype={self.fstype}")


@dataclass(frozen=True)
class VolumeMount:
    """One ``from:to[:flags]`` entry after parsing and validation.

    ``flags`` holds the plain flags in canonical order (``ro``, ``rec``,
    ``slave``, ``private``); ``per_node_cache`` the cache request, if any.
    """

    source: str
    target: str
    flags: tuple[str, ...] = ()
    per_node_cache: PerNodeCache | None = None

    @property
    def readonly(self) -> bool:
        return "ro" in self.flags

    @property
    def recursive(self) -> bool:
        return "rec" in self.flags

    @property
    def propagation(self) -> str | None:
        """``"slave"``, ``"private"`` or None (use the site default)."""
        for name in ("slave", "private"):
            if name in self.flags:
                return name
        return None

    def signature(self) -> str:
        """``from:to[:flag...]`` with canonical flags (upstream's raw form)."""
        parts = [self.source, self.target, *self.flags]
        if self.per_node_cache is not None:
            parts.append(self.per_node_cache.signature())
        return ":".join(parts)


def parse_bytes(text: str) -> int:
    """Parse ``<number>[b|k|m|g|t|p|e]`` (powers of 1024, case-insensitive).

    A trailing ``b``/``ib`` after a multiplier is accepted (``10GB``,
    ``10GiB``); at most :data:`MAX_BYTES`.  Raises ValueError with a one-line
    message.
    """
    raw = text.strip()
    low = raw.lower()
    if low.endswith("ib") and len(low) > 2 and low[-3] in "kmgtpe":
        low = low[:-2]
    elif low.endswith("b") and len(low) > 1 and low[-2] in "kmgtpe":
        low = low[:-1]
    power = 0
    if low and low[-1] in _BYTE_SUFFIX:
        power = _BYTE_SUFFIX[low[-1]]
        low = low[:-1]
    whole, dot, frac = low.partition(".")
    if not (whole.isdigit() and whole.isascii()) or \
            (dot and not (frac.isdigit() and frac.isascii())):
        raise ValueError(f"invalid size '{raw}'")
    too_large = ValueError(f"size '{raw}' is too large (at most {MAX_BYTES} "
                           f"bytes)")
    if len(whole.lstrip("0")) > len(str(MAX_BYTES)):
        raise too_large
    value = int(float(low) * (1024 ** power)) if dot \
        else int(whole) * (1024 ** power)
    if value > MAX_BYTES:
        raise too_large
    return value


def normalize_path(path: str, what: str, entry: str) -> str:
    """Check a volume path and return it normalised (no trailing or double /).

    Raises VolumeError naming ``what`` (``source``/``target``) and the entry.
    """
    if not path:
        raise VolumeError(f"volume '{entry}': empty {what} path")
    for char in path:
        if char not in _PATH_CHARS:
            raise VolumeError(
                f"volume '{entry}': invalid character {char!r} in {what} "
                f"'{path}'")
    if not path.startswith("/"):
        raise VolumeError(
            f"volume '{entry}': {what} '{path}' is not an absolute path")
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise VolumeError(f"volume '{entry}': '..' not allowed in {what} "
                          f"'{path}'")
    return "/" + "/".join(parts)


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def check_target(target: str, site: bool, entry: str = "") -> None:
    """Apply upstream's target rules to a normalised absolute target.

    Also used again on the target after it was resolved inside the
    container root.  Raises VolumeError.
    """
    label = entry or target
    if target == "/":
        raise VolumeError(f"volume '{label}': cannot mount over '/'")
    if site:
        if target in _SITE_FORBIDDEN:
            raise VolumeError(
                f"volume '{label}': site mount target '{target}' not allowed")
        return
    if target == "/var/tmp":
        return
    if target == "/opt" or any(target.startswith(p)
                               for p in _USER_FORBIDDEN_PREFIX):
        raise VolumeError(
            f"volume '{label}': target '{target}' not allowed (no mounts on "
            f"/etc*, /var* except /var/tmp, /opt, /opt/udiImage*)")
    if any(_under(target, t) for t in _USER_FORBIDDEN_TREES):
        raise VolumeError(
            f"volume '{label}': target '{target}' not allowed (no mounts on "
            f"/proc, /sys, /dev)")


def _parse_pnc(text: str, entry: str) -> PerNodeCache:
    body = text.split("=", 1)[1] if "=" in text else ""
    fields: dict[str, str] = {}
    for item in body.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key == "fs":
            key = "fstype"
        if not sep or key not in ("size", "bs", "method", "fstype"):
            raise VolumeError(
                f"volume '{entry}': bad perNodeCache option '{item}'")
        if key in fields:
            raise VolumeError(
                f"volume '{entry}': perNodeCache option '{key}' given twice")
        fields[key] = value.strip()
    if "size" not in fields:
        raise VolumeError(f"volume '{entry}': perNodeCache needs size=<bytes>")
    try:
        size = parse_bytes(fields["size"])
        bs = parse_bytes(fields.get("bs", str(DEFAULT_PNC_BS)))
    except ValueError as err:
        raise VolumeError(f"volume '{entry}': perNodeCache {err}") from None
    if size <= 0 or bs <= 0:
        raise VolumeError(
            f"volume '{entry}': perNodeCache size and bs must be positive")
    method = fields.get("method", "loop").lower()
    if method != "loop":
        raise VolumeError(
            f"volume '{entry}': perNodeCache method '{method}' unsupported "
            f"(only loop)")
    fstype = fields.get("fstype", "xfs").lower()
    if fstype != "xfs":
        raise VolumeError(
            f"volume '{entry}': perNodeCache fs '{fstype}' unsupported "
            f"(only xfs)")
    if size < XFS_MIN_SIZE:
        raise VolumeError(
            f"volume '{entry}': perNodeCache size {size} is below the xfs "
            f"minimum of 300 MiB ({XFS_MIN_SIZE} bytes)")
    return PerNodeCache(size=size, bs=bs, method=method, fstype=fstype)


def parse_entry(entry: str, site: bool = False) -> VolumeMount:
    """Parse and validate one (unquoted) ``from:to[:flags]`` entry."""
    tokens = entry.split(":")
    if site and len(tokens) == 1:
        tokens.append(tokens[0])
    if len(tokens) < 2 or not tokens[1]:
        raise VolumeError(
            f"volume '{entry}': expected from:to[:flags]")
    source = normalize_path(tokens[0], "source", entry)
    target = normalize_path(tokens[1], "target", entry)
    plain: set[str] = set()
    pnc: PerNodeCache | None = None
    for raw_flag in tokens[2:]:
        flag = raw_flag.strip().lower()
        if not flag:
            continue
        name = "pernodecache" if flag.startswith("pernodecache") else flag
        if name not in FLAG_ORDER and name != "pernodecache":
            raise VolumeError(f"volume '{entry}': unknown flag '{raw_flag}'")
        if not site and name not in USER_FLAGS:
            raise VolumeError(
                f"volume '{entry}': flag '{raw_flag}' not allowed in user "
                f"volumes (only ro, perNodeCache)")
        if name in plain or (name == "pernodecache" and pnc is not None):
            raise VolumeError(f"volume '{entry}': flag '{raw_flag}' "
                              f"given twice")
        if name == "pernodecache":
            if site:
                raise VolumeError(f"volume '{entry}': perNodeCache is only for user "
                                  "volumes (--volume), not siteFs")
            pnc = _parse_pnc(raw_flag.strip(), entry)
        else:
            plain.add(name)
    if {"slave", "private"} <= plain:
        raise VolumeError(
            f"volume '{entry}': flags slave and private are exclusive")
    check_target(target, site, entry)
    flags = tuple(f for f in FLAG_ORDER if f in plain)
    return VolumeMount(source=source, target=target, flags=flags,
                       per_node_cache=pnc)


def split_entries(text: str) -> list[str]:
    """Split a ``;``-separated map, removing quotes and empty entries."""
    out: list[str] = []
    for raw in text.split(";"):
        item = raw.strip()
        if item.startswith('"') or item.endswith('"'):
            if len(item) < 2 or not (item.startswith('"')
                                     and item.endswith('"')):
                raise VolumeError(f"volume '{item}': unbalanced quote")
            item = item[1:-1].strip()
        if '"' in item:
            raise VolumeError(f"volume '{item}': unexpected quote")
        if item:
            out.append(item)
    return out


def parse_volumes(text: str, site: bool = False) -> list[VolumeMount]:
    """Parse a whole ``;``-separated map; a target given twice is an error."""
    mounts: list[VolumeMount] = []
    seen: set[str] = set()
    for entry in split_entries(text):
        mount = parse_entry(entry, site=site)
        if mount.target in seen:
            raise VolumeError(
                f"volume '{entry}': target '{mount.target}' mapped twice")
        seen.add(mount.target)
        mounts.append(mount)
    return mounts


def volume_signature(mounts: list[VolumeMount]) -> str:
    """Upstream's ``volMap`` string: entry signatures sorted, joined by ``;``."""
    return ";".join(sorted(m.signature() for m in mounts))


def check_per_node_cache(mount: VolumeMount, size_limit: int,
                         allowed_fs: list[str]) -> None:
    """Enforce ``perNodeCacheSizeLimit`` (0 = no limit) and
    ``perNodeCacheAllowedFsType`` (empty = only xfs) on one mount."""
    pnc = mount.per_node_cache
    if pnc is None:
        return
    if size_limit and pnc.size > size_limit:
        raise VolumeError(
            f"volume '{mount.signature()}': perNodeCache size {pnc.size} "
            f"exceeds perNodeCacheSizeLimit {size_limit}")
    allowed = [a.lower() for a in allowed_fs] or ["xfs"]
    if pnc.fstype not in allowed:
        raise VolumeError(
            f"volume '{mount.signature()}': perNodeCache fs '{pnc.fstype}' "
            f"not in perNodeCacheAllowedFsType ({' '.join(allowed)})")
