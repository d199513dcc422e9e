"""Attacks on setupRoot through the image and the volume maps: none may escape."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def mount_points(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh if line.split()[4].startswith(str(base))]


def host_mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as fh:
        return {line.split()[4] for line in fh}


def test_image_home_symlink_to_etc_does_not_redirect_site_fs(site, user):
    before = host_mount_points()
    site.setup("-u", user.name, "id", site.images.ids["evil"])
    home = site.udi / "home"
    assert not home.is_symlink() and str(home) in mount_points(site.udi)
    new = host_mount_points() - before
    assert "/etc" not in new and "/home" not in new, new


def test_volume_target_symlink_to_root_rejected(site, user):
    vol = site.tmp / "vol"
    vol.mkdir()
    done = site.setup("-u", user.name, "-v", f"{vol}:/data", "id", site.images.ids["evil"],
                      check=False)
    assert done.returncode == 1 and "resolves to /" in done.stderr, done.stderr
    assert site.mounts() == []


def test_volume_target_through_dotdot_symlink_stays_inside(site, user):
    vol = site.tmp / "vol"
    vol.mkdir()
    before = host_mount_points()
    done = site.setup("-u", user.name, "-v", f"{vol}:/escape/planted", "id",
                      site.images.ids["evil"], check=False)
    # /escape -> ../../../tmp resolves to the container's /tmp: a host bind, where users
    # cannot create mount points; nothing may appear under the host's /tmp.
    assert done.returncode == 1 and "cannot create mount point" in done.stderr, done.stderr
    assert not Path("/tmp/planted").exists()
    assert not [p for p in host_mount_points() - before if p.endswith("/planted")]


def test_site_fs_target_through_hook_planted_symlink_stays_inside(site, user):
    src = site.tmp / "src"
    src.mkdir()
    hook = site.tmp / "plant.sh"
    hook.write_text("ln -s /etc planted\n")
    site.write_conf(sitePreMountHook=str(hook), siteFs=f"{src}:/planted/rtbuild-x")
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    assert not Path("/etc/rtbuild-x").exists()
    assert f"{site.udi}/etc/rtbuild-x" in mount_points(site.udi)


@pytest.mark.parametrize("volume", ["/tmp/../etc:/data", "/tmp:/data/../etc", "tmp:/data",
                                    "/tmp:data"])
def test_dotdot_and_relative_volumes_rejected(site, user, volume):
    done = site.setup("-u", user.name, "-v", volume, "id", site.images.ids["plain"],
                      check=False)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert site.mounts() == []


def test_volume_flags_reserved_for_site_rejected(site, user):
    done = site.setup("-u", user.name, "-v", "/tmp:/data:rec", "id", site.images.ids["plain"],
                      check=False)
    assert done.returncode == 1 and "rec" in done.stderr
    assert site.mounts() == []


def test_setuid_binary_in_image_is_inert(site, user):
    site.setup("-u", user.name, "id", site.images.ids["evil"])
    st = os.stat(site.udi / "bin/suidids")
    assert st.st_mode & 0o6000 == 0o6000 and st.st_uid == 0, "test image lacks setuid root"
    ran = site.in_container(user, "/bin/suidids")
    assert ran.stdout.split() == [str(user.uid), str(user.uid), str(user.gid), str(user.gid)], \
        ran.stdout + ran.stderr


def test_device_nodes_in_image_unusable(site, user):
    site.setup("-u", user.name, "id", site.images.ids["evil"])
    node = site.udi / "devnodes/mem"
    assert os.stat(node).st_rdev == os.makedev(1, 1)
    with pytest.raises(PermissionError):
        with open(node, "rb") as fh:  # even root: the mount is nodev
            fh.read(1)
    ran = site.in_container(user, "head -c 1 /devnodes/null; echo rc=$?")
    assert "Permission denied" in ran.stderr and "rc=1" in ran.stdout


def test_user_cannot_write_image_or_root_tmpfs(site, user):
    site.setup("-u", user.name, "id", site.images.ids["evil"])
    ran = site.in_container(user, "touch /bin/x 2>&1; touch /x 2>&1; mkdir /etc/x 2>&1;"
                                  " echo pw >> /etc/passwd 2>&1")
    out = ran.stdout + ran.stderr
    assert out.count("Read-only file system") == 1, out
    assert out.count("Permission denied") == 3, out
    assert "pw" not in (site.udi / "etc/passwd").read_text()


def test_image_merge_does_not_follow_image_symlinks(site, user):
    site.setup("-u", user.name, "id", site.images.ids["evil"])
    assert os.readlink(site.udi / "var/spoolx") == "/root"  # copied as a symlink
    assert os.readlink(site.udi / "escape") == "../../../../../../../tmp"
    assert not any(p.startswith("/root") for p in host_mount_points())
