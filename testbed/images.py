"""Test images, built without docker, cached by input hash, pushed on demand.

=================  ==========================  ===========================================
name               reference (repo:tag)        content
=================  ==========================  ===========================================
``busybox``        ``test/busybox:latest``     Docker v2s2, 1 layer: static busybox, applet
                                               symlinks, /etc/{os-release,passwd,group}
``busybox-oci``    ``test/busybox:oci``        the same image with an OCI manifest
``multiarch``      ``test/multiarch:latest``   OCI index: amd64 (busybox + /arch=amd64),
                                               arm64 (only /arch=arm64)
``tricky``         ``test/tricky:latest``      3 layers of whiteouts, opaque dirs, links,
                                               type changes, unicode names, a setuid binary;
                                               flattened tree = :data:`EXPECTED_TRICKY`
``debian``         ``test/debian:bookworm``    minbase / python3 / /opt/pybench (slow first
                                               build, see :mod:`testbed.debian`)
=================  ==========================  ===========================================

All images: Cmd ``["/bin/sh"]`` (debian: ``["/bin/bash"]``), Env PATH, WorkingDir ``/``.
An image id is the sha256 hex of its manifest (what ``skopeo inspect`` calls Digest).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testbed import oci
from testbed.flatten import flatten
from testbed.layercache import cached_layers, pkg_version
from testbed.oci import Entry, ImageConfig, Layer, directory, file, hardlink, make_layer, symlink
from testbed.paths import cache_dir
from testbed.procs import TestbedError, run
from testbed.push import push_manifest
from testbed.registry import Registry

BUSYBOX = Path("/bin/busybox")
SQUASHFS_OPTIONS = ["-all-root", "-no-xattrs"]  # upstream's converter defaults

OS_RELEASE = ('NAME="Shifter test busybox"\nID=busybox\nVERSION_ID=1.35.0\n'
              'PRETTY_NAME="Shifter test busybox 1.35.0"\n')
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class Built:
    """A built image: its manifest (or index) and, for plain images, layers + config."""

    name: str
    repo: str
    tag: str
    body: bytes
    media_type: str
    layers: tuple[Layer, ...] = ()
    config: ImageConfig | None = None

    @property
    def digest(self) -> str:
        return oci.digest_of(self.body)

    @property
    def image_id(self) -> str:
        return self.digest.split(":", 1)[1]


def _etc() -> list[Entry]:
    return [directory("etc"), file("etc/os-release", OS_RELEASE), file("etc/passwd", PASSWD), file("etc/group", GROUP)]


def busybox_entries() -> list[Entry]:
    """The busybox root file system: /bin/busybox, every applet as a symlink, /etc."""
    applets = run([str(BUSYBOX), "--list-full"]).stdout.split()
    dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "root", "home", "var"]
    entries = [directory(d) for d in dirs] + [directory("tmp", 0o1777)]
    entries += [file("bin/busybox", BUSYBOX.read_bytes(), 0o755)] + _etc()
    entries += [symlink(a, "/bin/busybox") for a in sorted(applets) if "/" in a and a != "bin/busybox"]
    return entries


def _busybox_layers() -> list[Layer]:
    return cached_layers("busybox", [pkg_version("busybox-static")], lambda: [make_layer(busybox_entries())])


def _arch_layer(arch: str) -> Layer:
    return cached_layers(f"arch-{arch}", [], lambda: [make_layer([file("arch", f"{arch}\n")])])[0]


# ---- test/tricky ------------------------------------------------------------------------------

def _tricky_entries() -> list[list[Entry]]:
    box = BUSYBOX.read_bytes()
    first = [
        directory("bin"), file("bin/busybox", box, 0o755), symlink("bin/sh", "busybox"),
        symlink("bin/ls", "/bin/busybox"), *_etc(), directory("tmp", 0o1777),
        directory("a"), file("a/file1", "one\n"), file("a/file2", "two\n"), file("a/keep", "keep\n"),
        directory("b"), file("b/old1", "old1\n"), directory("b/sub"), file("b/sub/deep", "deep\n"),
        file("c", "c was a file\n"), directory("d"), file("d/inner", "inner\n"),
        directory("gone"), file("gone/x", "x\n"),
        directory("hard"), file("hard/orig", "hardlinked\n"), hardlink("hard/link", "hard/orig"),
        directory("links"), symlink("links/abs", "/etc/passwd"), symlink("links/rel", "../etc/passwd"),
        symlink("links/dangling", "/nonexistent/target"),
        directory("sbin"), file("sbin/suidbox", box, 0o4755),
        directory("uni"), file("uni/héllo wörld.txt", "unicode 1\n"), file("uni/日本語.txt", "unicode 2\n"),
        file("uni/emoji-🚀", "unicode 3\n"),
    ]
    second = [
        directory("a"), file("a/.wh.file1", ""),
        directory("b"), file("b/.wh..wh..opq", ""), file("b/new", "new\n"),
        directory("c"), file("c/now-dir", "c is a directory now\n"),
        file("d", "d is a file now\n"),
        directory("hard"), file("hard/two", "second pair\n"), hardlink("hard/two-link", "hard/two"),
        file(".wh.gone", ""),
    ]
    third = [
        directory("a"), file("a/file1", "one again\n"), file("a/file2", "two v3\n", 0o600),
        directory("links"), symlink("links/rel2", "../a/file2"),
        directory("uni"), file("uni/.wh.日本語.txt", ""),
    ]
    return [first, second, third]


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _busybox_sha() -> str:
    return _sha(BUSYBOX.read_bytes())


def expected_tricky() -> dict[str, tuple]:
    """Exactly the flattened tree of ``test/tricky`` (format of :func:`testbed.flatten.describe_tree`).

    Owners are all root.  Hard-link groups: :data:`EXPECTED_TRICKY_HARDLINKS`.
    Gone for good: ``a/file1`` v1 (whited out, re-added in layer 3), ``b/old1`` and
    ``b/sub`` (opaque dir), ``c`` the file, ``d/inner``, ``gone/`` and ``uni/日本語.txt``
    (whiteouts), and every ``.wh.*`` marker itself.
    """
    f = lambda text, mode=0o644: ("file", mode, _sha(text))  # noqa: E731
    return {
        "bin": ("dir", 0o755), "bin/busybox": ("file", 0o755, _busybox_sha()),
        "bin/sh": ("symlink", "busybox"), "bin/ls": ("symlink", "/bin/busybox"),
        "etc": ("dir", 0o755), "etc/os-release": f(OS_RELEASE), "etc/passwd": f(PASSWD), "etc/group": f(GROUP),
        "tmp": ("dir", 0o1777),
        "a": ("dir", 0o755), "a/file1": f("one again\n"), "a/file2": f("two v3\n", 0o600), "a/keep": f("keep\n"),
        "b": ("dir", 0o755), "b/new": f("new\n"),
        "c": ("dir", 0o755), "c/now-dir": f("c is a directory now\n"),
        "d": f("d is a file now\n"),
        "hard": ("dir", 0o755), "hard/orig": f("hardlinked\n"), "hard/link": f("hardlinked\n"),
        "hard/two": f("second pair\n"), "hard/two-link": f("second pair\n"),
        "links": ("dir", 0o755), "links/abs": ("symlink", "/etc/passwd"), "links/rel": ("symlink", "../etc/passwd"),
        "links/dangling": ("symlink", "/nonexistent/target"), "links/rel2": ("symlink", "../a/file2"),
        "sbin": ("dir", 0o755), "sbin/suidbox": ("file", 0o4755, _busybox_sha()),
        "uni": ("dir", 0o755), "uni/héllo wörld.txt": f("unicode 1\n"), "uni/emoji-🚀": f("unicode 3\n"),
    }


EXPECTED_TRICKY_HARDLINKS = [{"hard/link", "hard/orig"}, {"hard/two", "hard/two-link"}]


EXPECTED_TRICKY: dict[str, tuple] = expected_tricky()


def _tricky_layers() -> list[Layer]:
    return cached_layers("tricky", [pkg_version("busybox-static")],
                         lambda: [make_layer(entries) for entries in _tricky_entries()])


# ---- building and pushing ---------------------------------------------------------------------

REFS = {
    "busybox": ("test/busybox", "latest"),
    "busybox-oci": ("test/busybox", "oci"),
    "multiarch": ("test/multiarch", "latest"),
    "tricky": ("test/tricky", "latest"),
    "debian": ("test/debian", "bookworm"),
}


def _plain(name: str, layers: list[Layer], conf: ImageConfig, use_oci: bool = False) -> Built:
    body, mtype = oci.manifest(conf, layers, use_oci)
    oci.put_blob(body)
    return Built(name, *REFS[name], body, mtype, tuple(layers), conf)


def build(name: str) -> Built:
    """Build (or load from cache) the image ``name`` (a key of :data:`REFS`)."""
    if name not in REFS:
        raise TestbedError(f"unknown test image {name!r} (known: {', '.join(REFS)})")
    if name in ("busybox", "busybox-oci"):
        return _plain(name, _busybox_layers(), ImageConfig(), name == "busybox-oci")
    if name == "tricky":
        return _plain(name, _tricky_layers(), ImageConfig())
    if name == "debian":
        from testbed.debian import debian_layers
        return _plain(name, debian_layers(), ImageConfig(cmd=["/bin/bash"]))
    amd = oci.manifest(ImageConfig(), [*_busybox_layers(), _arch_layer("amd64")], True)
    arm = oci.manifest(ImageConfig(architecture="arm64"), [_arch_layer("arm64")], True)
    body, mtype = oci.index([amd, arm], ["amd64", "arm64"])
    return Built(name, *REFS[name], body, mtype)


def _remote_digest(reg: Registry, built: Built) -> str | None:
    req = urllib.request.Request(f"{reg.url}/v2/{built.repo}/manifests/{built.tag}", method="HEAD",
                                 headers={**reg.headers(), "Accept": built.media_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError:
        return None


def ensure_pushed(reg: Registry, name: str) -> str:
    """Push image ``name`` to ``reg`` unless it is there; return ``host/repo:tag``."""
    built = build(name)
    if _remote_digest(reg, built) != built.digest:
        push_manifest(reg, built.repo, built.tag, built.body, built.media_type)
    return f"{reg.host}/{built.repo}:{built.tag}"


# ---- squashfs images for the runtime ----------------------------------------------------------

def meta_text(conf: ImageConfig) -> str:
    """The upstream ``<id>.meta`` text for ``conf`` (format: inventory 1.8)."""
    lines = ["FORMAT: squashfs"]
    if conf.entrypoint:
        lines.append(f"ENTRY: {conf.entrypoint!r}")
    if conf.cmd:
        lines.append(f"CMD: {conf.cmd!r}")
    if conf.workdir:
        lines.append(f"WORKDIR: {conf.workdir}")
    lines += [f"ENV: {item}" for item in conf.env]
    return "\n".join(lines) + "\n"


def _cached_squashfs(built: Built) -> Path:
    out = cache_dir("squashfs") / f"{built.image_id}.squashfs"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp:
        root = Path(tmp, "rootfs")
        root.mkdir()
        flatten(list(built.layers), root)
        partial = Path(tmp, "image.squashfs")
        run(["mksquashfs", str(root), str(partial), "-noappend", "-quiet", "-no-progress", *SQUASHFS_OPTIONS])
        partial.chmod(0o644)
        os.replace(partial, out)
    return out


def install_squashfs(image_dir: str | os.PathLike, name: str) -> str:
    """Write ``<id>.squashfs`` and ``<id>.meta`` for image ``name`` into ``image_dir``; return the id."""
    built = build(name)
    if not built.layers:
        raise TestbedError(f"image {name!r} is an index; install one of its platform images instead")
    target = Path(image_dir)
    image = target / f"{built.image_id}.squashfs"
    if not image.exists():
        tmp = target / f".{built.image_id}.squashfs.{os.getpid()}"
        shutil.copyfile(_cached_squashfs(built), tmp)
        tmp.chmod(0o644)
        os.replace(tmp, image)
    meta = target / f".{built.image_id}.meta.{os.getpid()}"
    meta.write_text(meta_text(built.config))
    meta.chmod(0o644)
    os.replace(meta, target / f"{built.image_id}.meta")
    return built.image_id


class PushedImages(Mapping):
    """``name -> "host/repo:tag"`` for a registry; each image is pushed on first access."""

    def __init__(self, reg: Registry):
        self.registry = reg
        self._refs: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in REFS:
            raise KeyError(name)
        if name not in self._refs:
            self._refs[name] = ensure_pushed(self.registry, name)
        return self._refs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(REFS)

    def __len__(self) -> int:
        return len(REFS)


@dataclass
class ImageDir:
    """A Shifter image directory (``imagePath``) holding installed squashfs images."""

    path: Path
    ids: dict[str, str] = field(default_factory=dict)

    def install(self, name: str) -> str:
        """Install image ``name`` (e.g. "debian", slow the first time); return its id."""
        if name not in self.ids:
            self.ids[name] = install_squashfs(self.path, name)
        return self.ids[name]

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)
