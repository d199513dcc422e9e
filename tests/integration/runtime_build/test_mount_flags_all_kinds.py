"""Every kind of mount setupRoot makes is nosuid, and nodev except /dev (audit gap 1).

One container carries every kind at once: user volumes (rw and ro), a perNodeCache XFS,
a module siteFs, a ``rec`` siteFs whose source holds a submount that is *suid,dev* on the
host, the image's directories and a >5 MB file bound singly; a second build uses a
``local:`` image whose directories include a host mount that is suid,dev.  The host
submounts are the attack: a recursive or single bind that kept their flags would show up.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from testbed.hostmounts import suid_dev_tmpfs

from conftest import _busybox_rootfs, extra_image

pytestmark = pytest.mark.integration

BIG = 6 * 1024 * 1024  # above merge.FILE_SIZE_LIMIT (5 MiB): bound, not copied
IMAGE_ID = "allkinds0001"


def mountinfo_under(*bases: Path) -> dict[str, list[str]]:
    """mount point -> per-mount options, for mounts at or below any of ``bases``."""
    found: dict[str, list[str]] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4]
            if any(point == str(b) or point.startswith(f"{b}/") for b in bases):
                found.setdefault(point, []).append(fields[5])
    return found


def assert_nosuid_nodev(site, mounts: dict[str, list[str]]) -> None:
    dev = f"{site.udi}/dev"
    for point, option_sets in mounts.items():
        for opts in option_sets:
            flags = opts.split(",")
            assert "nosuid" in flags, f"{point} is not nosuid: {opts}"
            if point != dev and not point.startswith(dev + "/"):
                assert "nodev" in flags, f"{point} is not nodev: {opts}"


@pytest.fixture(scope="module")
def big_image(rt_images):
    """The plain busybox image plus ``/big.bin`` (6 MiB, bound as a single file)."""
    def build(root: Path) -> None:
        with open(root / "big.bin", "wb") as fh:
            fh.truncate(BIG)
    with extra_image(rt_images.path, IMAGE_ID, build) as ident:
        yield ident


def can_make_xfs() -> str | None:
    if shutil.which("mkfs.xfs") is None:
        return "mkfs.xfs is not installed"
    with open("/proc/filesystems") as fh:
        if not any(line.split()[-1] == "xfs" for line in fh):
            return "the kernel has no xfs"
    return None


def test_every_mount_kind_is_nosuid_and_nodev(site, user, big_image):
    vol, vol2 = site.tmp / "vol", site.tmp / "vol2"
    for d in (vol, vol2):
        d.mkdir()
        os.chown(d, user.uid, user.gid)
    rec_src, mod_src = site.tmp / "recsrc", site.tmp / "modsrc"
    mod_src.mkdir()
    (mod_src / "tool").write_text("module\n")
    volumes = ["-v", f"{vol}:/data", "-v", f"{vol2}:/ro:ro"]
    conf = {"siteFs": f"/home:/home;{rec_src}:/site/rec:rec",
            "module_m1_siteFs": f"{mod_src}:/mod1"}
    no_xfs = can_make_xfs()
    if no_xfs is None:
        cache = site.tmp / "pnc"
        cache.mkdir(mode=0o700)
        conf.update(perNodeCachePath=str(cache), perNodeCacheSizeLimit="1g")
        volumes += ["-v", "/tmp:/scratch:perNodeCache=size=320m"]
    with suid_dev_tmpfs(rec_src / "sub") as sub:
        (sub / "inner").write_text("inner\n")
        try:
            site.write_conf(**conf)
            site.setup("-u", user.name, *volumes, "-m", "m1", "id", big_image)
            mounts = mountinfo_under(site.udi, site.loop)
            udi = site.udi
            expected = [f"{udi}/data", f"{udi}/ro", f"{udi}/mod1", f"{udi}/site/rec",
                        f"{udi}/site/rec/sub", f"{udi}/big.bin", f"{udi}/bin", f"{udi}/home",
                        f"{udi}/tmp", f"{udi}/proc", f"{udi}/sys", f"{udi}/dev", str(udi),
                        str(site.loop)]
            if no_xfs is None:
                expected.append(f"{udi}/scratch")
            missing = [p for p in expected if p not in mounts]
            assert not missing, f"expected mounts missing: {missing}"
            assert (udi / "site/rec/sub/inner").read_text() == "inner\n"
            assert (udi / "big.bin").stat().st_size == BIG
            assert "ro" in mounts[f"{udi}/ro"][0].split(",")
            assert_nosuid_nodev(site, mounts)
        finally:
            site.unsetup()
    assert site.mounts() == []
    if no_xfs is not None:
        pytest.skip(f"perNodeCache volume not built: {no_xfs} (the other kinds passed)")


def test_local_image_mounts_are_nosuid_and_nodev(site, user):
    """``local:`` image: its directories are bound from the host as they are, so a host
    mount among them that is suid,dev must lose both in the container."""
    local = site.tmp / "localimg"
    _busybox_rootfs(local)
    with open(local / "big.bin", "wb") as fh:
        fh.truncate(BIG)
    with suid_dev_tmpfs(local / "suidfs") as suidfs:
        (suidfs / "marker").write_text("suidfs\n")
        try:
            site.write_conf(allowLocalChroot="1")
            site.setup("-u", user.name, "local", str(local))
            mounts = mountinfo_under(site.udi, site.loop)
            udi = site.udi
            for point in (f"{udi}/suidfs", f"{udi}/bin", f"{udi}/big.bin", str(udi)):
                assert point in mounts, f"{point} not mounted: {sorted(mounts)}"
            assert (udi / "suidfs/marker").read_text() == "suidfs\n"
            assert not [p for p in mounts if p == str(site.loop)]
            assert_nosuid_nodev(site, mounts)
        finally:
            site.unsetup()
    assert site.mounts() == []
