"""Reading /proc/self/mountinfo: which mounts lie under a base, newest first."""
from __future__ import annotations

import pytest

from shifter_runtime.kernel.mounts import mount_entries, mounts_under

pytestmark = pytest.mark.unit

MOUNTINFO = """\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:39 / /var/udiMount rw,nosuid,nodev - tmpfs none rw,mode=755
41 40 7:0 /bin /var/udiMount/bin ro,nosuid,nodev - squashfs /dev/loop0 ro
42 27 7:0 / /var/udiLoopMount ro,nosuid,nodev - squashfs /dev/loop0 ro
43 40 0:50 / /var/udiMount/with\\040space rw - tmpfs tmpfs rw
44 27 0:51 / /var/udiMount2 rw - tmpfs tmpfs rw
"""


@pytest.fixture
def info(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return str(path)


def test_mounts_under_newest_first_and_whole_components(info):
    assert mounts_under("/var/udiMount", info) == [
        "/var/udiMount/with space", "/var/udiMount/bin", "/var/udiMount"]


def test_mount_entries_give_sources(info):
    assert mount_entries("/var/udiLoopMount/", info) == [("/var/udiLoopMount", "/dev/loop0")]


def test_nothing_mounted(info):
    assert mounts_under("/var/empty", info) == []
