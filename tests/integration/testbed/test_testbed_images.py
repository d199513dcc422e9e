"""Test images: pushed with the right media types, and the trees they must unpack to."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import requests

from testbed.flatten import describe_tree, flatten
from testbed.images import EXPECTED_TRICKY, EXPECTED_TRICKY_HARDLINKS, build

pytestmark = pytest.mark.integration

ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def _manifest(ref: str, auth=None) -> tuple[requests.Response, dict]:
    host, rest = ref.split("/", 1)
    repo, tag = rest.split(":", 1)
    resp = requests.get(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, auth=auth, timeout=10)
    resp.raise_for_status()
    assert resp.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(resp.content).hexdigest()
    return resp, resp.json()


def _blob(ref: str, digest: str) -> bytes:
    host, rest = ref.split("/", 1)
    repo = rest.split(":", 1)[0]
    data = requests.get(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=10).content
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


@pytest.mark.parametrize("name, media_type", [
    ("busybox", "application/vnd.docker.distribution.manifest.v2+json"),
    ("busybox-oci", "application/vnd.oci.image.manifest.v1+json"),
    ("tricky", "application/vnd.docker.distribution.manifest.v2+json"),
    ("multiarch", "application/vnd.oci.image.index.v1+json"),
])
def test_pushed_manifest_has_media_type(images, name, media_type):
    resp, doc = _manifest(images[name])
    assert resp.headers["Content-Type"] == media_type
    assert doc["mediaType"] == media_type


def test_busybox_config_and_layer(images):
    ref = images["busybox"]
    assert ref == "127.0.0.1:5000/test/busybox:latest"
    _, doc = _manifest(ref)
    assert len(doc["layers"]) == 1
    config = json.loads(_blob(ref, doc["config"]["digest"]))["config"]
    assert config["Cmd"] == ["/bin/sh"] and config["WorkingDir"] == "/"
    assert config["Env"][0].startswith("PATH=")


def test_busybox_oci_shares_the_layer(images):
    _, docker = _manifest(images["busybox"])
    _, oci = _manifest(images["busybox-oci"])
    assert [l["digest"] for l in docker["layers"]] == [l["digest"] for l in oci["layers"]]
    assert oci["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"


def test_multiarch_index_has_amd64_and_arm64(images):
    ref = images["multiarch"]
    _, index = _manifest(ref)
    platforms = [m["platform"]["architecture"] for m in index["manifests"]]
    assert platforms == ["amd64", "arm64"]
    _, arm = _manifest(ref.replace(":latest", ":" + index["manifests"][1]["digest"]))
    assert len(arm["layers"]) == 1
    assert json.loads(_blob(ref, arm["config"]["digest"]))["architecture"] == "arm64"


def test_auth_registry_gets_images_only_with_credentials(images_auth, registry_auth):
    ref = images_auth["busybox"]
    assert ref == "127.0.0.1:5001/test/busybox:latest"
    resp, _ = _manifest(ref, auth=(registry_auth.username, registry_auth.password))
    assert resp.status_code == 200
    anon = requests.get(f"{registry_auth.url}/v2/test/busybox/manifests/latest", headers={"Accept": ACCEPT}, timeout=5)
    assert anon.status_code == 401


def test_tricky_unpacked_by_umoci_matches_expected(images, tmp_path):
    """An independent unpacker (skopeo + umoci) agrees with EXPECTED_TRICKY."""
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{images['tricky']}",
                    f"oci:{tmp_path}/layout:tricky"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/layout:tricky", f"{tmp_path}/bundle"],
                   check=True, capture_output=True)
    tree, links = describe_tree(tmp_path / "bundle" / "rootfs")
    assert tree == EXPECTED_TRICKY
    assert links == sorted(EXPECTED_TRICKY_HARDLINKS, key=sorted)


def test_tricky_flattened_by_testbed_matches_expected(tmp_path):
    flatten(list(build("tricky").layers), tmp_path)
    tree, links = describe_tree(tmp_path)
    assert tree == EXPECTED_TRICKY
    assert links == sorted(EXPECTED_TRICKY_HARDLINKS, key=sorted)


def test_image_dir_has_busybox_squashfs_and_meta(image_dir):
    image_id = image_dir.ids["busybox"]
    assert image_id == build("busybox").image_id and len(image_id) == 64
    assert image_dir.path.stat().st_mode & 0o777 == 0o755
    meta = (image_dir.path / f"{image_id}.meta").read_text().splitlines()
    assert meta[:3] == ["FORMAT: squashfs", "CMD: ['/bin/sh']", "WORKDIR: /"]
    assert meta[3].startswith("ENV: PATH=")
    listing = subprocess.run(["unsquashfs", "-lls", str(image_dir.path / f"{image_id}.squashfs")],
                             check=True, capture_output=True, text=True).stdout
    assert "squashfs-root/bin/busybox" in listing and "root/root" in listing
    assert "squashfs-root/usr/bin/awk -> /bin/busybox" in listing


def test_debian_image_pushed_and_installed(images, image_dir):
    """The slow image (built once, then cached): 3 layers, python3 and the pybench modules."""
    _, doc = _manifest(images["debian"])
    assert len(doc["layers"]) == 3
    image_id = image_dir.install("debian")
    assert (image_dir.path / f"{image_id}.meta").read_text().startswith("FORMAT: squashfs\nCMD: ['/bin/bash']\n")
    listing = subprocess.run(["unsquashfs", "-l", str(image_dir.path / f"{image_id}.squashfs")],
                             check=True, capture_output=True, text=True).stdout.splitlines()
    assert "squashfs-root/usr/bin/python3" in listing
    assert "squashfs-root/etc/debian_version" in listing
    pkgs = [p for p in listing if p.startswith("squashfs-root/opt/pybench/pkg_") and p.endswith("/__init__.py")]
    assert len(pkgs) == 2000
    assert any(p.startswith("squashfs-root/opt/pybench/pkg_1999/__pycache__/__init__.cpython-311") for p in listing)
    assert not any("/.wh." in p for p in listing)
