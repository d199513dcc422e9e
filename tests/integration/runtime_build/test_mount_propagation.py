"""The user's mounts stay in the container: none propagates back to the host (audit gap 13).

A siteFs source that is a *shared* mount on the host: a bind of it made with mount(2)
would join its peer group, and a user volume mounted below the container's copy would
then appear in the host's source directory too (and survive unsetupRoot there).
"""
from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.integration


def mount_points() -> list[str]:
    """Every mount point of the host (mountinfo: os.path.ismount misses binds made
    within one file system)."""
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh]


def mounts_with_root(path: str) -> list[str]:
    """Mount points (host mountinfo) that bind ``path``: their root is the path within
    its file system (all of it, or its tail if /tmp is a mount)."""
    with open("/proc/self/mountinfo") as fh:
        rows = [line.split() for line in fh]
    return [f[4] for f in rows if f[3] != "/" and path.endswith(f[3])]


@pytest.mark.parametrize("flags,style", [("", None), (":slave", None), (":rec", None),
                                         ("", "slave")])
def test_user_volume_under_a_shared_site_fs_stays_in_the_container(site, user, flags,
                                                                    style):
    shared = site.tmp / "shared"
    (shared / "sub").mkdir(parents=True)
    os.chown(shared / "sub", user.uid, user.gid)
    vol = site.tmp / "vol"
    vol.mkdir()
    (vol / "who").write_text("vol\n")
    os.chown(vol, user.uid, user.gid)
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        conf = {"siteFs": f"/home:/home;{shared}:/site{flags}"}
        if style:
            conf["mountPropagationStyle"] = style
        site.write_conf(**conf)
        site.setup("-u", user.name, "-v", f"{vol}:/site/sub", "id", site.images.ids["plain"])
        inside = site.udi / "site/sub"
        assert str(inside) in mount_points() and (inside / "who").read_text() == "vol\n"
        assert str(shared / "sub") not in mount_points(), "the user's volume reached the host"
        assert not (shared / "sub/who").exists()
        assert mounts_with_root(str(vol)) == [str(inside)]
        site.unsetup()
        assert mounts_with_root(str(vol)) == [], "a bind of the volume outlived unsetupRoot"
    finally:
        site.unsetup(check=False)
        subprocess.run(["umount", "-R", "-l", str(shared)], check=True)
