"""Root acting on paths a user controls: each test wins the race for the attacker
(the user's rename/symlink is done at the worst moment, as the user) and checks that
root still acts only on what it meant to."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from shifter_runtime.build import (Bind, ImageSource, PerNodeCache, build_container,
                                   destroy_container)
from shifter_runtime.kernel import creds, mounts, paths

from conftest import OTHER_UID, spec_for

pytestmark = pytest.mark.integration


def plain_image(site) -> ImageSource:
    ident = site.images.ids["plain"]
    return ImageSource(ident, "squashfs", str(site.images.path / f"{ident}.squashfs"))


@contextmanager
def user_tmp(site, user):
    """A directory of the user's in the host /tmp (which is the container's /tmp)."""
    base = Path(tempfile.mkdtemp(prefix="rtrace-", dir="/tmp"))
    base.chmod(0o755)
    os.chown(base, user.uid, user.gid)
    try:
        yield base
    finally:
        destroy_container(str(site.udi), str(site.loop))
        for point in mounts.mounts_under(str(base)):
            mounts.umount(point)
        shutil.rmtree(base)


def as_user(user):
    return creds.fs_identity(user.uid, user.gid, [user.gid])


def swap_to_symlink(user, directory: Path, to: Path) -> None:
    """The user moves ``directory`` aside and puts a symlink to ``to`` in its place."""
    with as_user(user):
        os.rename(directory, directory.with_name(directory.name + ".moved"))
        os.symlink(str(to), directory)


def test_per_node_cache_chown_cannot_be_redirected(site, user, monkeypatch):
    """The new XFS must be given to the user through the mount itself: looking its path
    up again lets the user (who owns a directory on that path, in /tmp) point root's
    chown/chmod at another user's directory."""
    with user_tmp(site, user) as base:
        cache = base / "d" / "cache"
        cache.mkdir(parents=True)
        for path in (cache.parent, cache):
            os.chown(path, user.uid, user.gid)
        victim = base / "victim" / "cache"
        victim.mkdir(parents=True)
        os.chown(victim, OTHER_UID, OTHER_UID)
        victim.chmod(0o700)
        backing = site.tmp / "pnc"
        backing.mkdir(mode=0o700)
        real_open = paths.open_in_root
        fired = []

        def racing_open(rootfd, path, flags=os.O_PATH, **kw):
            if path == str(cache) and not flags & os.O_PATH and not fired:
                fired.append(path)
                swap_to_symlink(user, cache.parent, victim.parent)
            return real_open(rootfd, path, flags, **kw)

        monkeypatch.setattr(paths, "open_in_root", racing_open)
        spec = spec_for(site, user, plain_image(site),
                        volumes=[Bind("/tmp", str(cache),
                                      per_node_cache=PerNodeCache(size=320 << 20))],
                        per_node_cache_path=str(backing), per_node_cache_size_limit=1 << 30)
        build_container(spec)
        monkeypatch.undo()
        st = victim.stat()
        assert (st.st_uid, st.st_mode & 0o7777) == (OTHER_UID, 0o700), fired
        moved = "d.moved" if fired else "d"
        top = site.udi / str(base).lstrip("/") / moved / "cache"
        assert os.path.ismount(top)
        st = top.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (user.uid, user.gid, 0o755)


def test_teardown_unmount_cannot_be_redirected(site, user, monkeypatch):
    """unsetupRoot unmounts what mountinfo lists below udiMount; a user volume in /tmp
    sits below a directory of the user's, which they can swap for a symlink between
    mountinfo and umount2: root would then detach a host mount of the user's choice."""
    with user_tmp(site, user) as base:
        cache = base / "d" / "cache"
        cache.mkdir(parents=True)
        (base / "src").mkdir()
        for path in (cache.parent, cache, base / "src"):
            os.chown(path, user.uid, user.gid)
        victim = base / "victim" / "cache"   # stands for /home, /sys/fs/cgroup, ...
        victim.mkdir(parents=True)
        build_container(spec_for(site, user, plain_image(site),
                                 volumes=[Bind(str(base / "src"), str(cache))]))
        point = str(site.udi / str(cache).lstrip("/"))
        assert point in mounts.mounts_under(point)
        subprocess.run(["mount", "-t", "tmpfs", "victim", str(victim)], check=True)
        real_entries = mounts.mount_entries
        fired = []

        def racing_entries(base_path, *args):
            found = real_entries(base_path, *args)
            unmounting = sys._getframe(1).f_code.co_name == "unmount_all"  # umount2 next
            if unmounting and not fired and any(p == point for p, _ in found):
                fired.append(point)
                swap_to_symlink(user, cache.parent, victim.parent)
            return found

        monkeypatch.setattr(mounts, "mount_entries", racing_entries)
        left = destroy_container(str(site.udi), str(site.loop))
        monkeypatch.undo()
        assert fired
        assert os.path.ismount(victim), "root unmounted the host mount the symlink named"
        assert left == [] and site.mounts() == []


def test_local_image_private_subdirectory_not_lent(site, user):
    """A local image's /etc, /var and /opt are merged entry by entry into the
    container's own (0755) directories: read as root, a 0700 one would hand its
    readable files to the user."""
    home = site.tmp / "victimhome"
    home.mkdir(mode=0o755)
    for sub in ("etc", "var", "opt"):
        (home / sub).mkdir(mode=0o700)
        (home / sub / f"secret-{sub}").write_text("not yours\n")
        (home / sub / f"secret-{sub}").chmod(0o644)
    (home / "pub").mkdir(mode=0o755)
    (home / "pub" / "shared").write_text("fine\n")
    for path in [home, *home.rglob("*")]:
        os.chown(path, OTHER_UID, OTHER_UID)
    image = ImageSource(str(home), "VFS", str(home))
    build_container(spec_for(site, user, image, allow_local_chroot=True))
    for sub in ("etc", "var", "opt"):
        assert not (site.udi / sub / f"secret-{sub}").exists()
    assert (site.udi / "pub" / "shared").read_text() == "fine\n"


def test_local_image_readable_subdirectories_still_merged(site, user):
    local = site.tmp / "mine"
    for sub in ("etc", "var", "opt"):
        (local / sub).mkdir(parents=True, mode=0o755)
        (local / sub / f"from-{sub}").write_text(f"{sub}\n")
    for path in [local, *local.rglob("*")]:
        os.chown(path, user.uid, user.gid)
    image = ImageSource(str(local), "VFS", str(local))
    build_container(spec_for(site, user, image, allow_local_chroot=True))
    for sub in ("etc", "var", "opt"):
        assert (site.udi / sub / f"from-{sub}").read_text() == f"{sub}\n"
