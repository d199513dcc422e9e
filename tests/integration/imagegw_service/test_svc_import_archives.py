"""``doimport`` of a ``docker save`` tar and an OCI layout on a real gateway.

The archives are written here from the test bed's deterministic images (testbed/images.py):
the same bytes `docker save` and an OCI layout would hold, so the ids are known.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from testbed import oci
from testbed.images import EXPECTED_TRICKY, build
from test_svc_shifterimg import shifterimg, write_udiroot

pytestmark = pytest.mark.integration

REF_NAME = "org.opencontainers.image.ref.name"


def docker_save(dest: Path, names: list[str]) -> Path:
    """A ``docker save`` archive of the test images ``names`` (uncompressed layer tars)."""
    members: dict[str, bytes] = {}
    manifest = []
    for name in names:
        built = build(name)
        config = json.loads(built.body)["config"]["digest"]
        members[f"{config[7:]}.json"] = oci.blob_path(config).read_bytes()
        layers = [f"{layer.diff_id[7:]}/layer.tar" for layer in built.layers]
        for layer, member in zip(built.layers, layers):
            members[member] = gzip.decompress(oci.blob_path(layer.digest).read_bytes())
        manifest.append({"Config": f"{config[7:]}.json", "RepoTags": [f"{built.repo}:{built.tag}"],
                         "Layers": layers})
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(dest, "w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    dest.chmod(0o644)
    return dest


def oci_layout(dest: Path, name: str, ref: str) -> Path:
    """An OCI image layout directory holding the test image ``name`` tagged ``ref``."""
    built = build(name)
    doc = json.loads(built.body)
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for digest in [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]:
        shutil.copyfile(oci.blob_path(digest), blobs / digest[7:])
    (blobs / built.image_id).write_bytes(built.body)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": built.media_type, "digest": built.digest, "size": len(built.body),
         "annotations": {REF_NAME: ref}}]}))
    return dest


def listing(squashfs: Path) -> set[str]:
    """Paths in the image, as ``unsquashfs -l`` lists them (without the root)."""
    out = subprocess.run(["unsquashfs", "-l", "-d", "", str(squashfs)], check=True,
                         capture_output=True, text=True).stdout
    return {line.lstrip("/") for line in out.splitlines() if line.startswith("/")}


def doimport(gateway, tag: str, path: Path, fmt: str) -> dict:
    resp = gateway.post(f"/api/doimport/lab/custom/{tag}/", {"filepath": str(path), "format": fmt})
    assert resp.status_code == 200, resp.text
    return gateway.wait_status("custom", tag)


def test_import_docker_save_and_oci_layout(gateway, test_users):
    images, expand = gateway.root / "images", gateway.root / "state" / "expand"
    two = docker_save(gateway.root / "two.tar", ["busybox", "tricky"])
    rec = doimport(gateway, "test/tricky:latest", two, "docker-archive")    # the tag picks one
    tricky = json.loads(build("tricky").body)["config"]["digest"][7:]
    assert (rec["status"], rec["id"]) == ("READY", tricky), rec
    assert rec["ENV"][0].startswith("PATH=") and rec["WORKDIR"] == "/"
    assert (images / f"{tricky}.meta").read_text().startswith(
        "FORMAT: squashfs\nCMD: ['/bin/sh']\nWORKDIR: /\nENV: PATH=")
    assert listing(images / f"{tricky}.squashfs") == set(EXPECTED_TRICKY)

    layout = oci_layout(gateway.root / "layout", "busybox-oci", "oci")
    root = SimpleNamespace(uid=0, gid=0, groups=[], home="/root")
    out = shifterimg(root, write_udiroot(gateway), "--json", "import", "custom:box", str(layout))
    assert out.returncode == 0, out.stderr                   # format sniffed: oci
    assert json.loads(out.stdout)["status"] in ("PENDING", "PULLING", "EXAMINATION",
                                                "CONVERSION", "TRANSFER", "READY")
    rec = gateway.wait_status("custom", "box:latest")        # "box" matches no ref: the only image
    box = build("busybox-oci").image_id
    assert (rec["status"], rec["id"]) == ("READY", box), rec
    files = listing(images / f"{box}.squashfs")
    assert {"bin/busybox", "bin/sh", "etc/os-release", "etc/passwd", "tmp"} <= files
    assert sorted(p.name for p in images.iterdir()) == sorted(
        f"{i}.{ext}" for i in (tricky, box) for ext in ("meta", "squashfs"))
    assert list(expand.iterdir()) == []


def test_import_failures_name_the_file(gateway):
    two = docker_save(gateway.root / "two.tar", ["busybox", "tricky"])
    layout = oci_layout(gateway.root / "layout", "busybox-oci", "oci")
    for tag, path, fmt, reason in [
            ("nope:1", two, "docker-archive",
             "choose an image with a tag; the archive has: test/busybox:latest, test/tricky:latest"),
            ("wrong:1", layout, "docker-archive", "not a docker save archive (no manifest.json)")]:
        rec = doimport(gateway, tag, path, fmt)
        assert rec["status"] == "FAILURE", rec
        assert rec["status_message"] == f"{path} ({tag}): {reason}"
    gone = gateway.root / "gone.tar"
    resp = gateway.post("/api/doimport/lab/custom/gone:1/", {"filepath": str(gone), "format": "oci"})
    assert (resp.status_code, resp.json()["error"]) == (400, f"filepath: {gone}: No such file or directory")
    assert list((gateway.root / "images").iterdir()) == []


def test_gateway_killed_mid_import_resumes_cleanly(gateway_factory):
    gw = gateway_factory(extra={"HeartbeatTimeout": 3})
    archive = docker_save(gw.root / "debian.tar", ["debian"])     # ~300 MB: seconds to convert
    tag, body = "test/debian:bookworm", {"filepath": str(archive), "format": "docker-archive"}
    deadline = time.monotonic() + 120
    rec = {}
    while rec.get("status") != "CONVERSION" and time.monotonic() < deadline:
        rec = gw.post(f"/api/doimport/lab/custom/{tag}/", body).json()
        time.sleep(0.05)
    assert rec["status"] == "CONVERSION", rec
    gw.kill()
    assert [p for p in os.listdir(gw.root / "images") if not p.startswith(".")] == []
    gw.start()
    rec = gw.wait_status("custom", tag, timeout=240)
    debian = json.loads(build("debian").body)["config"]["digest"][7:]
    assert (rec["status"], rec["id"]) == ("READY", debian), rec
    assert sorted(os.listdir(gw.root / "images")) == [f"{debian}.meta", f"{debian}.squashfs"]
    assert list((gw.root / "state" / "expand").iterdir()) == [], "no leftovers in ExpandDirectory"
