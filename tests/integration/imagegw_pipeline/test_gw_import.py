"""import_archive: docker-save archives and OCI layouts (dir and tar) made by skopeo from the registry."""
from __future__ import annotations

import json
import subprocess

import pytest

from shifter_imagegw.pipeline import PullError, import_archive
from testbed.flatten import describe_tree
from testbed.images import EXPECTED_TRICKY, build

pytestmark = pytest.mark.integration


def _expected():
    from test_gw_pull import upstream_modes
    return upstream_modes(EXPECTED_TRICKY)


@pytest.fixture(scope="module")
def archives(images, tmp_path_factory):
    src = f"docker://{images['tricky']}"
    base = tmp_path_factory.mktemp("archives")
    made = {"docker": base / "docker.tar", "oci-tar": base / "oci.tar", "oci-dir": base / "ocidir"}
    for transport, dest in [("docker-archive", made["docker"]), ("oci-archive", made["oci-tar"]),
                            ("oci", made["oci-dir"])]:
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", src, f"{transport}:{dest}:test/tricky:latest"],
                       check=True, capture_output=True)
    return made


@pytest.mark.parametrize("kind", ["docker", "oci-tar", "oci-dir"])
def test_import_gives_the_same_tree_as_a_pull(archives, tmp_path, kind):
    statuses = []
    image = import_archive(archives[kind], expand_dir=tmp_path / "expand", image_dir=tmp_path / "images",
                           progress=lambda status, done, total: statuses.append(status))
    assert list(dict.fromkeys(statuses)) == ["PULLING", "EXAMINATION", "CONVERSION", "TRANSFER"]
    out = tmp_path / "root"
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(out), str(image.squashfs)], check=True,
                   stdout=subprocess.DEVNULL)
    assert describe_tree(out)[0] == _expected()
    assert list((tmp_path / "expand").iterdir()) == []
    if kind == "oci-dir":
        index = json.loads((archives[kind] / "index.json").read_text())
        assert image.id == index["manifests"][0]["digest"].split(":")[1]
    if kind == "docker":
        assert image.id == json.loads(build("tricky").body)["config"]["digest"].split(":")[1]
    again = import_archive(archives[kind], expand_dir=tmp_path / "expand", image_dir=tmp_path / "images",
                           tag="test/tricky:latest")
    assert again.id == image.id and again.meta_only


def test_import_errors_are_one_line(archives, tmp_path):
    with pytest.raises(PullError, match=r"docker.tar \(nope:1\): choose an image with a tag; the archive has: "):
        import_archive(archives["docker"], expand_dir=tmp_path, image_dir=tmp_path / "i", tag="nope:1")
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"x" * 2048)
    with pytest.raises(PullError, match="bogus.tar: not a tar archive"):
        import_archive(bogus, expand_dir=tmp_path / "e", image_dir=tmp_path / "i")
    with pytest.raises(PullError, match="missing.tar: no such file"):
        import_archive(tmp_path / "missing.tar", expand_dir=tmp_path / "e", image_dir=tmp_path / "i")
