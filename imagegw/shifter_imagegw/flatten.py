"""Merge image layers into one safe tar stream, without unpacking anything to disk.

Pass 1 (:func:`index_layer`) reads each layer's headers; :func:`plan_merge` applies the layers
in order on an in-memory tree (whiteouts, opaque directories, type changes, hardlinks) and
refuses every member that could land outside the root: absolute names, ``..``, writes below a
symlink or other non-directory, hardlinks to anything but a regular file inside the tree.
Device nodes and fifos are dropped, xattrs and owners are never copied (big directories get
one marker xattr, see DIR_INDEX_XATTR) (all files root-owned,
readable by everyone; setuid bits are inert under nosuid).  Pass 2 (:func:`write_merged`) emits directories and
symlinks first (parents before children), then the surviving regular files layer by layer, then
hardlinks, so a consumer such as ``tar2sqfs`` never sees a forward reference.
"""
from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

# tar2sqfs (squashfs-tools-ng 1.2) writes a directory index only into extended directory inodes,
# and makes one only for a directory with an xattr.  Without the index every lookup scans the
# directory from its start: 4x slower first imports from big directories on a fresh mount.
# Directories with at least DIR_INDEX_MIN entries therefore carry this (root-only) marker.
DIR_INDEX_XATTR = "trusted.shifter.dirindex"
DIR_INDEX_MIN = 64
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
BUFSIZE = 1 << 20
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE)
_SPECIAL = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}


class FlattenError(Exception):
    """A layer cannot be read as a tar archive."""


@dataclass
class Entry:
    """Pass-1 record of one tar member (already normalised; ``None`` path = root or refused)."""
    index: int
    path: str | None
    kind: str                  # dir | file | symlink | hardlink | whiteout | opaque | skip
    mode: int = 0o644
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    note: str = ""             # why a member was refused


@dataclass(eq=False)
class Node:
    kind: str
    entry: Entry | None        # None: directory implied by a deeper member
    layer: int
    children: dict[str, "Node"] = field(default_factory=dict)
    canonical: "Node | None" = None    # hardlink -> the regular-file node it shares data with


@dataclass
class Plan:
    """What to emit: header-only entries, file data by (layer, index), then hardlinks."""
    headers: list[tuple[str, Entry | None, str]] = field(default_factory=list)   # (path, entry, kind)
    data: dict[int, dict[int, str]] = field(default_factory=dict)              # layer -> index -> path
    hardlinks: list[tuple[str, str]] = field(default_factory=list)             # (path, target path)
    refused: list[str] = field(default_factory=list)
    file_bytes: int = 0
    indexed_dirs: set[str] = field(default_factory=set)                        # get DIR_INDEX_XATTR


# -- pass 1 ------------------------------------------------------------------------------------

def normalize(name: str) -> str | None:
    """Member name -> clean relative path; '' for the root; None when it could escape."""
    if name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or any("\0" in p for p in parts):
        return None
    return "/".join(parts)


def _entry(index: int, info: tarfile.TarInfo) -> Entry:
    path = normalize(info.name)
    if path is None:
        return Entry(index, None, "skip", note=f"{info.name!r}: absolute or '..' name")
    if path == "":
        return Entry(index, None, "skip")
    base = path.rsplit("/", 1)[-1]
    if base == OPAQUE:
        return Entry(index, path, "opaque")
    if base.startswith(WHITEOUT):
        return Entry(index, path, "whiteout")
    common = dict(mode=info.mode & 0o7777, mtime=int(info.mtime))
    if info.type == tarfile.DIRTYPE:
        return Entry(index, path, "dir", **common)
    if info.type in _FILE_TYPES:
        return Entry(index, path, "file", size=info.size, **common)
    if info.type == tarfile.SYMTYPE:
        return Entry(index, path, "symlink", linkname=info.linkname, **common)
    if info.type == tarfile.LNKTYPE:
        target = normalize(info.linkname)
        if not target:
            return Entry(index, None, "skip", note=f"{path!r}: hardlink to {info.linkname!r} outside the root")
        return Entry(index, path, "hardlink", linkname=target, **common)
    kind = _SPECIAL.get(info.type, f"tar type {info.type!r}")
    return Entry(index, None, "skip", note=f"{path!r}: {kind} dropped")


def _members(fileobj: BinaryIO) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as tar:    # forward seeks only
            for info in tar:
                yield tar, info
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise FlattenError(f"layer is not a readable tar archive: {err}") from None


def index_layer(fileobj: BinaryIO) -> list[Entry]:
    """Pass 1: one normalised :class:`Entry` per member, in archive order."""
    return [_entry(i, info) for i, (_, info) in enumerate(_members(fileobj))]


# -- merge -------------------------------------------------------------------------------------

def _lookup(root: Node, path: str) -> Node | None:
    """Exact lookup that never follows symlinks."""
    node = root
    for part in path.split("/"):
        if node.kind != "dir" or part not in node.children:
            return None
        node = node.children[part]
    return node


def _parent(root: Node, path: str, layer: int) -> Node | None:
    """Directory that will hold ``path``; creates implied directories; None below a non-directory."""
    parts = path.split("/")[:-1]
    node = root
    for part in parts:
        child = node.children.get(part)
        if child is None:
            break
        if child.kind != "dir":
            return None
        node = child
    node = root
    for part in parts:
        node = node.children.setdefault(part, Node("dir", None, layer))
    return node


def _prune_lower(node: Node, layer: int) -> None:
    """Remove every descendant that came from a layer below ``layer`` (opaque directories)."""
    for name, child in list(node.children.items()):
        if child.kind == "dir":
            _prune_lower(child, layer)
            if child.layer < layer and not child.children:
                del node.children[name]
        elif child.layer < layer:
            del node.children[name]


def _apply(root: Node, layer: int, e: Entry, plan: Plan) -> None:
    parent = _parent(root, e.path, layer)
    if parent is None:
        plan.refused.append(f"layer {layer}: {e.path!r}: a parent is not a directory (symlink or file)")
        return
    base = e.path.rsplit("/", 1)[-1]
    if e.kind == "opaque":
        _prune_lower(parent, layer)
        return
    if e.kind == "whiteout":
        name = base[len(WHITEOUT):]
        victim = parent.children.get(name)
        if victim is not None and victim.layer < layer:
            del parent.children[name]
        return
    existing = parent.children.get(base)
    if e.kind == "dir":
        if existing is not None and existing.kind == "dir":
            existing.entry, existing.layer = e, layer
        else:
            parent.children[base] = Node("dir", e, layer)
        return
    canonical = None
    if e.kind == "hardlink":
        target = _lookup(root, e.linkname)
        if target is None or target.kind not in ("file", "hardlink"):
            plan.refused.append(f"layer {layer}: {e.path!r}: hardlink target {e.linkname!r} is not a file in the image")
            return
        canonical = target.canonical or target
    parent.children[base] = Node(e.kind, e, layer, canonical=canonical)


def plan_merge(layers: list[list[Entry]]) -> Plan:
    """Apply the layers bottom-up and return what the merged stream must contain."""
    plan = Plan()
    root = Node("dir", None, -1)
    for layer, entries in enumerate(layers):
        for e in entries:
            if e.kind == "skip":
                if e.note:
                    plan.refused.append(f"layer {layer}: {e.note}")
                continue
            _apply(root, layer, e, plan)
    groups: dict[int, list[str]] = {}
    owners: dict[int, Node] = {}
    for path, node in _walk(root, ""):
        if node.kind in ("dir", "symlink") or (node.kind == "file" and node.entry.size == 0):
            plan.headers.append((path, node.entry, node.kind))
            if node.kind == "dir" and len(node.children) >= DIR_INDEX_MIN:
                plan.indexed_dirs.add(path)
        elif node.kind in ("file", "hardlink"):
            owner = node.canonical or node
            groups.setdefault(id(owner), []).append(path)
            owners[id(owner)] = owner
    for key, paths in groups.items():
        owner = owners[key]
        first = owner_path = paths[0]
        layer_data = plan.data.setdefault(owner.layer, {})
        if owner.entry.size == 0:
            plan.headers.append((first, owner.entry, "file"))
        else:
            layer_data[owner.entry.index] = owner_path
            plan.file_bytes += owner.entry.size
        plan.hardlinks.extend((p, first) for p in paths[1:])
    return plan


def _walk(node: Node, prefix: str) -> Iterator[tuple[str, Node]]:
    for name in sorted(node.children):
        child = node.children[name]
        path = f"{prefix}{name}"
        yield path, child
        if child.kind == "dir":
            yield from _walk(child, path + "/")


# -- pass 2 ------------------------------------------------------------------------------------

def safe_mode(kind: str, mode: int) -> int:
    """Upstream's ``chmod a+rX,u+w``: readable by everyone, writable by the owner.

    setuid/setgid bits are kept (as upstream): every image is mounted nosuid.
    """
    mode &= 0o7777
    if kind == "dir":
        return mode | 0o755
    if kind == "symlink":
        return 0o777
    return mode | 0o644 | (0o111 if mode & 0o111 else 0)


def _info(path: str, kind: str, entry: Entry | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}.get(
        kind, tarfile.REGTYPE)
    info.mode = safe_mode(kind, entry.mode if entry else 0o755)
    info.mtime = entry.mtime if entry else 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if kind == "symlink":
        info.linkname = entry.linkname
    return info


class _Sink:
    """Write-only, position-counting wrapper: lets tarfile's fast ``w:`` mode write to a pipe."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


def write_merged(plan: Plan, open_layer: Callable[[int], BinaryIO], out: BinaryIO,
                 on_bytes: Callable[[int], None] | None = None) -> None:
    """Pass 2: write the merged tree as one POSIX tar stream to ``out``."""
    with tarfile.open(fileobj=_Sink(out), mode="w:", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        tar.copybufsize = BUFSIZE
        for path, entry, kind in plan.headers:
            info = _info(path, kind, entry)
            if path in plan.indexed_dirs:
                info.pax_headers = {f"SCHILY.xattr.{DIR_INDEX_XATTR}": "1"}
            tar.addfile(info)
        for layer in sorted(plan.data):
            wanted = plan.data[layer]
            if not wanted:
                continue
            remaining = len(wanted)
            with open_layer(layer) as fh:
                for i, (src, info) in enumerate(_members(fh)):
                    path = wanted.get(i)
                    if path is None:
                        continue
                    out_info = _info(path, "file", Entry(i, path, "file", info.mode, int(info.mtime)))
                    out_info.size = info.size
                    tar.addfile(out_info, src.extractfile(info))
                    if on_bytes:
                        on_bytes(info.size)
                    remaining -= 1
                    if remaining == 0:
                        break
        for path, target in plan.hardlinks:
            info = _info(path, "hardlink", None)
            info.mode = 0o644
            info.linkname = target
            tar.addfile(info)
