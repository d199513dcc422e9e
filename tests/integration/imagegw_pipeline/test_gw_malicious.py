"""Malicious layers pushed to the real registry: nothing lands outside the image, with both converters."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
import requests

from shifter_imagegw.pipeline import PullRequest, pull_image
from testbed.flatten import describe_tree

pytestmark = pytest.mark.integration


def _layer(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, arg in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = arg.encode()
                info.size, info.mode = len(data), 0o644
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, arg
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, arg
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buf.getvalue(), mtime=0)


def _push_blob(url: str, repo: str, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    loc = urljoin(url, start.headers["Location"])
    put = requests.put(loc, params={"digest": digest}, data=data,
                       headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert put.status_code == 201, put.text
    return {"digest": digest, "size": len(data)}


def push_image(url: str, repo: str, tag: str, layers: list[bytes]) -> str:
    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_push_blob(url, repo, layer)}
             for layer in layers]
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **_push_blob(url, repo, config)},
                           "layers": descs}).encode()
    resp = requests.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest,
                        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert resp.status_code == 201, resp.text
    return tag


@pytest.fixture
def victim(tmp_path):
    """A host directory the layers try to write into, with one file they try to overwrite."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "target").write_text("original\n")
    return path


@pytest.mark.parametrize("converter", ["tar2sqfs", "mksquashfs"])
def test_escape_attempts_never_touch_the_host(registry, tmp_path, victim, converter):
    v = str(victim)
    up = "../" * 12 + v.lstrip("/")
    first = _layer([("file", f"{v}/abs", "pwned"), ("file", f"{up}/dotdot", "pwned"),
                    ("symlink", "link", v), ("file", "link/through", "pwned"),
                    ("hardlink", "hl-abs", f"{v}/target"), ("hardlink", "hl-up", f"{up}/target"),
                    ("symlink", "sym", f"{v}/target"), ("dir", "dev", ""), ("chr", "dev/mem", ""),
                    ("file", "ok", "fine")])
    second = _layer([("file", "link/through2", "pwned"), ("file", "sym", "replaced the symlink"),
                     ("hardlink", "hl-sym", "sym2"), ("symlink", "sym2", f"{v}/target"),
                     ("hardlink", "hl-via-link", "link/target")])
    push_image(registry.url, "test/malicious", converter, [first, second])
    dirs = SimpleNamespace(cache=tmp_path / "cache", expand=tmp_path / "expand", images=tmp_path / "images")
    image = pull_image(PullRequest(f"{registry.host}/test/malicious:{converter}"), cache_dir=dirs.cache,
                       expand_dir=dirs.expand, image_dir=dirs.images,
                       converter_options={"converter": converter})
    assert sorted(p.name for p in victim.iterdir()) == ["target"]
    assert (victim / "target").read_text() == "original\n"
    out = tmp_path / "unpacked"
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(out), str(image.squashfs)], check=True,
                   stdout=subprocess.DEVNULL)
    tree, links = describe_tree(out)
    assert tree == {"link": ("symlink", v), "sym": ("file", 0o644, hashlib.sha256(b"replaced the symlink").hexdigest()),
                    "sym2": ("symlink", f"{v}/target"), "dev": ("dir", 0o755),
                    "ok": ("file", 0o644, hashlib.sha256(b"fine").hexdigest())}
    assert links == [] and list(dirs.expand.iterdir()) == []
