"""``<imagePath>/<id>.meta``: image metadata, read by the runtime, written by
the gateway.  THE single definition of the format -- the gateway must use
:func:`format_meta` (then its own atomic temp-file + rename) rather than
writing lines itself, and may check files with :func:`parse_meta`.

Format (upstream ``converters.writemeta`` / ``ImageData.c``): one
``KEY: value`` per line, split at the first ``:``, value stripped.

=========  =================================================================
FORMAT     ``squashfs`` | ``xfs`` | ``ext4`` | ``cramfs`` | ``VFS`` (required)
ENTRY      Python ``repr()`` of a list of str (``['/bin/sh', '-c']``) or a
           plain string (one argument)
CMD        same as ENTRY
WORKDIR    absolute path
USERACL    comma-separated uids (at most 1000)
GROUPACL   comma-separated gids (at most 1000)
ENV        ``NAME=VALUE``; repeated, one per line, in order
VOLUME     image-declared volume (kept, unused; repeated)
USER       importing user (imports only)
LABEL      ``key=value`` image label (repeated; our addition)
=========  =================================================================

Empty ENTRY/CMD/WORKDIR/ACL lines are simply not written.  Unknown keys give
a warning (collected in :attr:`ImageMeta.warnings`), not an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import MetaError

FORMATS = ("squashfs", "xfs", "ext4", "cramfs", "VFS")
MAX_ACL = 1000


@dataclass
class ImageMeta:
    """Parsed ``.meta`` content."""

    format: str
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    workdir: str | None = None
    env: list[str] = field(default_factory=list)
    user_acl: list[int] = field(default_factory=list)
    group_acl: list[int] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def private(self) -> bool:
        """True when the image has an ACL (only listed users may use it)."""
        return bool(self.user_acl or self.group_acl)


def image_file(image_path: str, ident: str, fmt: str) -> str:
    """Path of the image file ``<imagePath>/<id>.<format>``."""
    return f"{image_path.rstrip('/')}/{ident}.{fmt}"


def meta_file(image_path: str, ident: str) -> str:
    """Path of the metadata file ``<imagePath>/<id>.meta``."""
    return f"{image_path.rstrip('/')}/{ident}.meta"


_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def parse_str_list(text: str) -> list[str]:
    """Parse the ``repr()`` of a list of str (Python 3, or Python 2 with
    ``u''`` prefixes) without importing ``ast`` (launch hot path).

    Raises ValueError on anything else.
    """
    end = len(text)
    pos = 0

    def skip(at: int) -> int:
        while at < end and text[at] in " \t":
            at += 1
        return at

    pos = skip(pos)
    if pos >= end or text[pos] != "[":
        raise ValueError("expected '['")
    items: list[str] = []
    pos = skip(pos + 1)
    if pos < end and text[pos] == "]":
        pos += 1
    else:
        while True:
            if pos < end and text[pos] in "uU":
                pos += 1
            if pos >= end or text[pos] not in "'\"":
                raise ValueError("expected a quoted string")
            quote = text[pos]
            pos += 1
            chars: list[str] = []
            while True:
                if pos >= end:
                    raise ValueError("unterminated string")
                char = text[pos]
                if char == quote:
                    pos += 1
                    break
                if char != "\\":
                    chars.append(char)
                    pos += 1
                    continue
                esc = text[pos + 1:pos + 2]
                if esc in _ESCAPES:
                    chars.append(_ESCAPES[esc])
                    pos += 2
                elif esc in _HEX_ESCAPES:
                    digits = text[pos + 2:pos + 2 + _HEX_ESCAPES[esc]]
                    if len(digits) != _HEX_ESCAPES[esc] or not all(
                            d in "0123456789abcdefABCDEF" for d in digits):
                        raise ValueError(f"bad \\{esc} escape")
                    chars.append(chr(int(digits, 16)))
                    pos += 2 + len(digits)
                else:
                    raise ValueError(f"unknown escape \\{esc}")
            items.append("".join(chars))
            pos = skip(pos)
            if pos < end and text[pos] == ",":
                pos = skip(pos + 1)
                if pos < end and text[pos] == "]":
                    pos += 1
                    break
                continue
            if pos < end and text[pos] == "]":
                pos += 1
                break
            raise ValueError("expected ',' or ']'")
    if skip(pos) != end:
        raise ValueError("text after ']'")
    return items


def _parse_argv(value: str, fail) -> list[str]:
    if not value.startswith("["):
        return [value]
    try:
        return parse_str_list(value)
    except ValueError as err:
        raise fail(f"not a list of strings ({err}): {value}") from None


def _parse_acl(value: str, fail) -> list[int]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > MAX_ACL:
        raise fail(f"more than {MAX_ACL} entries")
    out: list[int] = []
    for item in items:
        if not item.isdigit() or not item.isascii():
            raise fail(f"'{item}' is not a numeric id")
        out.append(int(item))
    return out


def parse_meta(text: str, path: str = "<meta>") -> ImageMeta:
    """Parse ``.meta`` text; raises MetaError naming ``path:line``."""
    fmt: str | None = None
    meta = ImageMeta(format="")
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        key = key.strip().upper()
        value = value.strip()

        def fail(msg: str, _n: int = number, _k: str = key) -> MetaError:
            return MetaError(f"{path}:{_n}: {_k}: {msg}")

        if not sep:
            raise fail("expected KEY: value")
        if key == "FORMAT":
            if value not in FORMATS:
                raise fail(f"unknown image format '{value}'")
            fmt = value
        elif key == "ENTRY":
            meta.entrypoint = _parse_argv(value, fail) if value else None
        elif key == "CMD":
            meta.cmd = _parse_argv(value, fail) if value else None
        elif key == "WORKDIR":
            if value and not value.startswith("/"):
                raise fail(f"'{value}' is not an absolute path")
            meta.workdir = value or None
        elif key == "ENV":
            if "=" not in value or value.startswith("="):
                raise fail(f"'{value}': expected NAME=VALUE")
            meta.env.append(value)
        elif key == "USERACL":
            meta.user_acl = _parse_acl(value, fail)
        elif key == "GROUPACL":
            meta.group_acl = _parse_acl(value, fail)
        elif key == "VOLUME":
            meta.volumes.append(value)
        elif key == "USER":
            meta.user = value or None
        elif key == "LABEL":
            name, _, val = value.partition("=")
            meta.labels[name.strip()] = val.strip()
        else:
            meta.warnings.append(f"{path}:{number}: unknown key '{key}' "
                                 f"ignored")
    if fmt is None:
        raise MetaError(f"{path}: FORMAT: missing")
    meta.format = fmt
    return meta


def load_meta(path: str, image: str | None = None) -> ImageMeta:
    """Read and parse a ``.meta`` file; errors name the file, except that a
    missing file of ``image`` (the image as messages name it) reads
    ``image IMAGE: not found in DIR``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        if image is not None and isinstance(err, FileNotFoundError):
            raise MetaError(f"image {image}: not found in {path.rpartition('/')[0]}") from None
        raise MetaError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise MetaError(f"{path}: not UTF-8 text") from None
    return parse_meta(text, path)


def format_meta(meta: ImageMeta) -> str:
    """Serialise ``meta`` in upstream's line order (round-trips exactly)."""
    for item in meta.env:
        if "\n" in item or "\r" in item or "=" not in item:
            raise MetaError(f"ENV: bad entry {item!r}")
    singles = [("WORKDIR", meta.workdir or ""), ("USER", meta.user or ""),
               *(("VOLUME", v) for v in meta.volumes),
               *(("LABEL", f"{k}={v}") for k, v in meta.labels.items())]
    for key, value in singles:
        if "\n" in value or "\r" in value:
            raise MetaError(f"{key}: value may not contain a newline: "
                            f"{value!r}")
    lines = [f"FORMAT: {meta.format}"]
    if meta.entrypoint:
        lines.append(f"ENTRY: {meta.entrypoint!r}")
    if meta.cmd:
        lines.append(f"CMD: {meta.cmd!r}")
    if meta.workdir:
        lines.append(f"WORKDIR: {meta.workdir}")
    if meta.user_acl:
        lines.append("USERACL: " + ",".join(str(u) for u in meta.user_acl))
    if meta.group_acl:
        lines.append("GROUPACL: " + ",".join(str(g) for g in meta.group_acl))
    lines.extend(f"ENV: {item}" for item in meta.env)
    lines.extend(f"VOLUME: {item}" for item in meta.volumes)
    if meta.user:
        lines.append(f"USER: {meta.user}")
    lines.extend(f"LABEL: {k}={v}" for k, v in meta.labels.items())
    return "\n".join(lines) + "\n"


def acl_allows(meta: ImageMeta, uid: int, gids: list[int] | tuple[int, ...]
               ) -> bool:
    """Upstream's ``check_image_permissions``: public images allow everyone;
    otherwise the uid must be in USERACL or any gid (primary or auxiliary)
    in GROUPACL."""
    if not meta.private:
        return True
    if uid in meta.user_acl:
        return True
    return any(gid in meta.group_acl for gid in gids)
