"""Apply image layers to a directory (whiteouts, opaque dirs), and describe trees.

Only for the test bed's own, trusted layers: it builds the reference squashfs
images the runtime tests use, independently of the gateway under test.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from pathlib import Path

from testbed.oci import Layer, blob_path

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def apply_layer(layer: Layer, root: Path) -> None:
    """Extract one gzip layer onto ``root`` (as root: owners and modes kept)."""
    with tarfile.open(blob_path(layer.digest), "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            parent, base = os.path.split(m.name[2:] if m.name.startswith("./") else m.name)
            if base == OPAQUE:
                for child in (root / parent).iterdir():
                    _remove(child)
            elif base.startswith(WHITEOUT):
                _remove(root / parent / base[len(WHITEOUT):])
        for m in members:
            if os.path.basename(m.name).startswith(WHITEOUT):
                continue
            target = root / m.name
            if os.path.lexists(target) and not (m.isdir() and target.is_dir() and not target.is_symlink()):
                _remove(target)
            tar.extract(m, root, numeric_owner=True)
            if m.isdir():
                os.chmod(target, m.mode)  # extract() sets dir modes only in extractall()


def flatten(layers: list[Layer], root: Path) -> None:
    """Apply ``layers`` in order onto the empty directory ``root``."""
    for layer in layers:
        apply_layer(layer, root)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_tree(root: str | os.PathLike) -> tuple[dict[str, tuple], list[set[str]]]:
    """The tree under ``root`` as ``{relpath: entry}`` plus hard-link groups.

    Entries: ``("dir", mode)``, ``("file", mode, sha256hex)``, ``("symlink", target)``
    with permission bits including setuid/sticky.  Symlinks are never followed.
    """
    root = Path(root)
    tree: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", mode)
            elif stat.S_ISREG(st.st_mode):
                tree[rel] = ("file", mode, sha256_file(path))
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), set()).add(rel)
            else:
                tree[rel] = ("other", mode)
    return tree, sorted((g for g in inodes.values() if len(g) > 1), key=sorted)
