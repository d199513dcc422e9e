"""``test/debian:bookworm``: Debian minbase via debootstrap, built lazily and cached.

Layers: (1) ``debootstrap --variant=minbase`` (2) python3 installed with apt
(a diff, with whiteouts for deleted files) (3) ``/opt/pybench``: packages
``pkg_0000``..``pkg_1999`` with compiled ``__pycache__`` and ``import_all.py``.
The first build takes about a minute and needs the Debian mirror.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from testbed.layercache import cached_layers, pkg_version
from testbed.oci import Layer, LayerWriter, file
from testbed.paths import cache_dir
from testbed.procs import run

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
MODULES = 2000
RECIPE = "2"  # bump when this recipe changes
SKIP_CONTENT = {"dev", "proc", "sys"}  # keep the directories, never their content
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}

Snapshot = dict[str, tuple]


def _walk(root: Path) -> list[str]:
    """Every path under ``root`` (relative, parents first, sorted), minus dev/proc/sys content."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir in SKIP_CONTENT:
            dirnames[:] = []
            continue
        dirnames.sort()
        for name in sorted(filenames) + dirnames:
            out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(out)


def snapshot(root: Path) -> Snapshot:
    """What identifies each path's content and metadata."""
    snap = {}
    for rel in _walk(root):
        st = os.lstat(root / rel)
        link = os.readlink(root / rel) if stat.S_ISLNK(st.st_mode) else ""
        snap[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, link)
    return snap


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info


def tree_layer(root: Path, paths: list[str], whiteouts: list[str] = ()) -> Layer:
    """A layer of ``paths`` under ``root`` (non-recursive each) plus whiteout markers."""
    with LayerWriter() as writer:
        for rel in paths:
            writer.tar.add(root / rel, arcname=rel, recursive=False, filter=_anonymous)
        for rel in whiteouts:
            parent, name = os.path.split(rel)
            writer.add(file(os.path.join(parent, f".wh.{name}"), b""))
    return writer.layer


def diff_layer(root: Path, before: Snapshot) -> Layer:
    """The changes of ``root`` since ``before``: new/changed paths (with parents) and whiteouts."""
    after = snapshot(root)
    changed = {rel for rel, meta in after.items() if before.get(rel) != meta}
    for rel in list(changed):
        parent = os.path.dirname(rel)
        while parent:
            changed.add(parent)
            parent = os.path.dirname(parent)
    gone = [rel for rel in before
            if rel not in after and (os.path.dirname(rel) == "" or os.path.dirname(rel) in after)]
    return tree_layer(root, sorted(changed), sorted(gone))


def _chroot(root: Path, *cmd: str) -> None:
    run(["chroot", str(root), *cmd], env=CHROOT_ENV, timeout=900)


def _install_python(root: Path) -> None:
    resolv = root / "etc" / "resolv.conf"
    saved = resolv.read_bytes() if resolv.exists() else None
    shutil.copyfile("/etc/resolv.conf", resolv)
    try:
        _chroot(root, "apt-get", "update", "-qq")
        _chroot(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3")
    finally:
        if saved is None:
            resolv.unlink()
        else:
            resolv.write_bytes(saved)
    _clean_apt(root)


def _clean_apt(root: Path) -> None:
    """Drop downloaded packages and package lists, as Debian's own images do."""
    _chroot(root, "apt-get", "clean")
    for lists in (root / "var" / "lib" / "apt" / "lists").glob("*"):
        if lists.is_file():
            lists.unlink()


def _write_pybench(root: Path) -> list[str]:
    bench = root / "opt" / "pybench"
    bench.mkdir(parents=True)
    for i in range(MODULES):
        pkg = bench / f"pkg_{i:04d}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(f"VALUE = {i}\n\ndef value():\n    return VALUE\n")
    (bench / "import_all.py").write_text(
        "import importlib, sys\nsys.path.insert(0, '/opt/pybench')\n"
        f"total = sum(importlib.import_module(f'pkg_{{i:04d}}').value() for i in range({MODULES}))\n"
        "print(total)\n")
    _chroot(root, "python3", "-m", "compileall", "-q", "/opt/pybench")
    return ["opt"] + [f"opt/{rel}" for rel in _walk(root / "opt")]


def _build() -> list[Layer]:
    with tempfile.TemporaryDirectory(dir=cache_dir("tmp"), prefix="debian-") as tmp:
        root = Path(tmp, "rootfs")
        run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], timeout=900)
        _clean_apt(root)
        base = tree_layer(root, _walk(root))
        before = snapshot(root)
        _install_python(root)
        python = diff_layer(root, before)
        bench = tree_layer(root, _write_pybench(root))
        return [base, python, bench]


def debian_layers() -> list[Layer]:
    """The three layers of ``test/debian:bookworm`` (built once, then from the cache)."""
    return cached_layers("debian", [RECIPE, SUITE, MIRROR, str(MODULES), pkg_version("debootstrap")], _build)
