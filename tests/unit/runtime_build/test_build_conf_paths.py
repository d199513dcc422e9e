"""setupRoot's build names the udiRoot.conf key and path when udiMount/loopMount,
perNodeCachePath or mkfsXfsPath is unusable, and mkfs.xfs's real complaint."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from shifter_runtime.build import UserInfo
from shifter_runtime.build.binds import _make_xfs, mount_per_node_cache
from shifter_runtime.build.image_mount import make_mount_point
from shifter_runtime.build.spec import BuildError, PerNodeCache

pytestmark = pytest.mark.unit


def test_mount_point_that_is_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(BuildError) as info:
        make_mount_point(str(afile), "udiMount")
    assert str(info.value) == f"udiMount {afile}: exists and is not a directory"
    with pytest.raises(BuildError) as info:
        make_mount_point(f"{afile}/x", "loopMount")
    assert str(info.value) == (f"loopMount {afile}/x: cannot create the directory: "
                               f"Not a directory")


def test_mount_point_made_when_missing(tmp_path):
    make_mount_point(str(tmp_path / "a" / "b"), "udiMount")
    make_mount_point(str(tmp_path / "a" / "b"), "udiMount")
    assert (tmp_path / "a" / "b").is_dir()


def _spec(cache_path: str, mkfs: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(user=UserInfo("u", 1001, 1001), per_node_cache_fs_types=("xfs",),
                           per_node_cache_size_limit=0, per_node_cache_path=cache_path,
                           mkfs_xfs_path=mkfs)


def test_missing_per_node_cache_path_names_the_key():
    with pytest.raises(BuildError) as info:
        mount_per_node_cache(None, _spec("/nonexistent"), PerNodeCache(size=300 << 20), -1,
                             "volume /tmp:/x")
    assert str(info.value) == ("volume /tmp:/x: perNodeCachePath /nonexistent: "
                               "No such file or directory")


def test_missing_mkfs_names_the_key(tmp_path):
    backing = tmp_path / "backing"
    with pytest.raises(BuildError) as info:
        _make_xfs("/nonexistent", str(backing), "volume /tmp:/x")
    assert str(info.value) == ("volume /tmp:/x: mkfsXfsPath /nonexistent: "
                               "No such file or directory")


def test_mkfs_failure_reports_its_first_line(tmp_path):
    fake = tmp_path / "mkfs"
    fake.write_text("#!/bin/sh\necho >&2\necho 'Filesystem must be larger than 300MB.' >&2\n"
                    "echo 'Usage: mkfs.xfs' >&2\necho '<value> is xxx (512 byte blocks).' >&2\n"
                    "exit 1\n")
    os.chmod(fake, 0o755)
    with pytest.raises(BuildError) as info:
        _make_xfs(str(fake), str(tmp_path / "backing"), "volume /tmp:/x")
    assert str(info.value) == (f"volume /tmp:/x: {fake} failed: "
                               f"Filesystem must be larger than 300MB.")
    fake.write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(BuildError) as info:
        _make_xfs(str(fake), str(tmp_path / "backing"), "volume /tmp:/x")
    assert str(info.value) == f"volume /tmp:/x: {fake} failed: exit status 3"
