"""Mount IDs: of the mounts under a base (mountinfo), and of the mount an fd lies on."""
from __future__ import annotations

import os

import pytest

from shifter_runtime.kernel.mounts import mount_id, mount_ids_under

pytestmark = pytest.mark.unit

MOUNTINFO = """\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:39 / /var/udiMount rw,nosuid,nodev - tmpfs none rw,mode=755
41 40 7:0 /bin /var/udiMount/bin ro,nosuid,nodev - squashfs /dev/loop0 ro
43 40 0:50 / /var/udiMount/with\\040space rw - tmpfs tmpfs rw
44 27 0:51 / /var/udiMount2 rw - tmpfs tmpfs rw
"""


def test_mount_ids_under_whole_components(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert mount_ids_under("/var/udiMount/", str(info)) == {40, 41, 43}
    assert mount_ids_under("/var/empty", str(info)) == set()


def test_mount_id_of_a_descriptor_matches_mountinfo():
    with open("/proc/self/mountinfo") as fh:
        ids = {line.split()[4]: int(line.split()[0]) for line in fh}
    fd = os.open("/proc", os.O_PATH)
    try:
        assert mount_id(fd) == ids["/proc"]
    finally:
        os.close(fd)
