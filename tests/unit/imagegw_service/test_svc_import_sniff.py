"""``shifterimg import``: the format of the file, sniffed when --format is not given."""
import io
import tarfile

import pytest

from shifter_imagegw.client.cli import UsageError, sniff_format

pytestmark = pytest.mark.unit


def make_tar(path, names, mode="w"):
    with tarfile.open(path, mode) as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    return str(path)


def test_squashfs_by_magic(tmp_path):
    image = tmp_path / "img.sqsh"
    image.write_bytes(b"hsqs" + bytes(60))
    assert sniff_format(str(image)) == "squashfs"


def test_oci_layout_directory(tmp_path):
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    assert sniff_format(str(tmp_path)) == "oci"


@pytest.mark.parametrize("names, mode, want", [
    (["abc.json", "abc/layer.tar", "manifest.json", "repositories"], "w", "docker-archive"),
    (["./manifest.json", "./abc/layer.tar"], "w", "docker-archive"),
    (["oci-layout", "index.json", "blobs/sha256/abc"], "w", "oci"),
    (["oci-layout", "index.json", "blobs/sha256/abc"], "w:gz", "oci"),
    # docker >= 25 saves an OCI layout with a manifest.json: read as docker save
    (["blobs/sha256/abc", "index.json", "manifest.json", "oci-layout"], "w", "docker-archive"),
])
def test_tar_archives_by_their_index(tmp_path, names, mode, want):
    assert sniff_format(make_tar(tmp_path / "a.tar", names, mode)) == want


def test_a_nested_manifest_is_not_an_index(tmp_path):
    path = make_tar(tmp_path / "a.tar", ["sub/manifest.json", "sub/oci-layout"])
    with pytest.raises(UsageError, match=r"a\.tar: not a squashfs, a docker save archive or an OCI "
                                         r"layout; use --format"):
        sniff_format(path)


def test_errors_are_one_line_naming_the_file(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"x" * 4096)
    for path, reason in [(junk, "not a squashfs, a docker save archive or an OCI layout"),
                         (tmp_path / "missing.tar", "cannot read: No such file or directory"),
                         (tmp_path, "a directory without oci-layout is not an OCI image layout")]:
        with pytest.raises(UsageError) as err:
            sniff_format(str(path))
        assert str(err.value).startswith(f"{path}: {reason}") and "\n" not in str(err.value)
