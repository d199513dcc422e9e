"""Pure parts of the private container: refused root-only features, site /etc files."""
from __future__ import annotations

import os
import pwd

import pytest

from shifter_runtime.config import ModuleConfig, parse_config
from shifter_runtime.launch.etc import write_site_etc
from shifter_runtime.launch.private import (PrivateBuildError, _refuse_root_features,
                                            check_local_image, open_image, squashfs_problem)
from shifter_runtime.volumes import parse_volumes

pytestmark = pytest.mark.unit

BASE = ("udiMount=/u\nloopMount=/l\nimagePath=/i\nudiRootPath=/r\netcPath={etc}\n"
        "rootfsType=tmpfs\n")


def _config(extra: str = "", etc: str = "/e"):
    return parse_config(BASE.format(etc=etc) + extra)


def test_roothook_module_is_refused():
    with pytest.raises(PrivateBuildError, match="module gpu has a roothook.*setupRoot"):
        _refuse_root_features(_config(), [ModuleConfig("gpu", roothook="/x.sh")], [])


def test_per_node_cache_is_refused():
    vols = parse_volumes("/x:/scratch:perNodeCache=size=1G")
    with pytest.raises(PrivateBuildError, match="/scratch: perNodeCache"):
        _refuse_root_features(_config(), [], vols)


def test_site_mount_hooks_are_refused():
    with pytest.raises(PrivateBuildError, match="sitePreMountHook"):
        _refuse_root_features(_config("sitePreMountHook=/h.sh\n"), [], [])


def test_plain_request_passes():
    _refuse_root_features(_config(), [ModuleConfig("m", userhook="/u.sh")],
                          parse_volumes("/a:/b:ro"))


def test_dynamic_etc_has_the_user_and_fixed_nsswitch(tmp_path):
    me = pwd.getpwuid(os.getuid())
    write_site_etc(_config("populateEtcDynamically=1\nmaxGroupCount=31\n"), me, str(tmp_path))
    passwd = (tmp_path / "passwd").read_text().splitlines()
    assert passwd[0].startswith(f"{me.pw_name}:x:{me.pw_uid}:{me.pw_gid}:")
    assert os.readlink(tmp_path / "mtab") == "/proc/mounts"
    assert "passwd: files" in (tmp_path / "nsswitch.conf").read_text()
    assert (tmp_path / "shadow").read_text() == ""
    assert ":0:" not in (tmp_path / "group").read_text()


def test_etc_path_files_are_copied(tmp_path):
    site_etc = tmp_path / "site"
    site_etc.mkdir()
    (site_etc / "passwd").write_text("alice:x:1000:1000::/home/alice:/bin/sh\n")
    (site_etc / "group").write_text("alice:x:1000:\n")
    out = tmp_path / "out"
    out.mkdir()
    write_site_etc(_config(etc=str(site_etc)), pwd.getpwuid(os.getuid()), str(out))
    assert (out / "passwd").read_text() == "alice:x:1000:1000::/home/alice:/bin/sh\n"
    assert (out / "group").read_text() == "alice:x:1000:\n"  # maxGroupCount=0: stubs


def test_group_filter_keeps_user_membership_up_to_the_limit():
    text = ("root:x:0:\nalice:x:1000:\nwheel:x:10:bob,alice\nstaff:x:50:alice\n"
            "other:x:60:bob\nbad-line\n")
    from shifter_runtime.launch.etc import filter_group
    assert filter_group(text, "alice", 2) == ("alice:x:1000:alice\nwheel:x:10:alice\n"
                                              "staff:x:50:\nother:x:60:\n")


def test_formats_squashfuse_cannot_serve_are_refused():
    from shifter_runtime.launch.private import build_private
    with pytest.raises(PrivateBuildError, match="format xfs can only be mounted by root"):
        build_private(_config(), "/i/x.xfs", "xfs", pwd.getpwuid(os.getuid()), [], [], b"",
                      reference="id:x")


def _superblock(bytes_used: int) -> bytes:
    return b"hsqs" + bytes(36) + bytes_used.to_bytes(8, "little") + bytes(48)


def test_squashfs_superblock_checks():
    assert squashfs_problem(_superblock(4096), 4096) is None
    assert squashfs_problem(b"hsqs", 4) == "not a squashfs image (no squashfs superblock)"
    assert squashfs_problem(bytes(96), 4096) == "not a squashfs image (no squashfs superblock)"
    assert squashfs_problem(_superblock(8192), 4096) == \
        "truncated squashfs image (4096 bytes, the superblock says 8192)"


@pytest.mark.parametrize("content, message", [
    (b"x" * 200, "{p}: not a squashfs image (no squashfs superblock)"),
    (_superblock(1 << 20), "{p}: truncated squashfs image (96 bytes, the superblock says 1048576)"),
    (None, "{p} is missing (its .meta is there)"),
])
def test_image_file_problems_name_image_and_file(tmp_path, content, message):
    path = tmp_path / "img.squashfs"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PrivateBuildError) as info:
        open_image(str(path), "id:img")
    assert str(info.value) == "image id:img: " + message.format(p=path)


def test_good_superblock_is_opened(tmp_path):
    path = tmp_path / "img.squashfs"
    path.write_bytes(_superblock(96))
    fd = open_image(str(path), "id:img")
    assert fd >= 0
    os.close(fd)


@pytest.mark.parametrize("name", ["missing", "file", "file/below"])
def test_local_image_must_be_a_directory(tmp_path, name):
    (tmp_path / "file").write_text("")
    with pytest.raises(PrivateBuildError) as info:
        check_local_image(f"{tmp_path}/{name}", "/udi", f"local:{tmp_path}/{name}", "me")
    assert str(info.value) == f"image local:{tmp_path}/{name}: local image is not a directory"
    check_local_image(str(tmp_path), "/udi", f"local:{tmp_path}", "me")


def test_local_image_around_the_staging_directory_is_refused(tmp_path):
    (tmp_path / "udi").mkdir()
    for image in ("/", str(tmp_path), f"{tmp_path}/udi"):
        with pytest.raises(PrivateBuildError) as info:
            check_local_image(image, f"{tmp_path}/udi", f"local:{image}", "me")
        assert str(info.value) == (f"image local:{image}: contains {tmp_path}/udi, where a "
                                   "private container is built: use a container prepared "
                                   "by root (setupRoot, or the Slurm path)")
    (tmp_path / "ud").mkdir()
    check_local_image(f"{tmp_path}/ud", f"{tmp_path}/udi", "local:x", "me")
