"""The builder's other modes: image served by squashfuse_ll, and local (directory) images."""
from __future__ import annotations

import os

import pytest

from shifter_runtime.build import (BuildError, BuildSpec, EtcPolicy, ImageSource,
                                   LoopImageMount, ModuleSpec, SquashfuseImageMount, UserInfo,
                                   build_container, destroy_container)

pytestmark = pytest.mark.integration


def spec_for(site, user, image: ImageSource, mount, **extra) -> BuildSpec:
    return BuildSpec(udi_mount=str(site.udi), loop_mount=str(site.loop), image=image,
                     user=UserInfo(user.name, user.uid, user.gid, tuple(user.groups)),
                     image_mount=mount, state=b"{}", writable=True,
                     etc=EtcPolicy(populate_dynamically=True), **extra)


def test_squashfuse_image_mount(site, user):
    ident = site.images.ids["plain"]
    image = ImageSource(ident, "squashfs", str(site.images.path / f"{ident}.squashfs"))
    container = build_container(spec_for(site, user, image, SquashfuseImageMount()))
    try:
        child = container.image.child
        assert child is not None and child.poll() is None
        assert (site.udi / "opt/app/hello").read_text() == "hello from the image\n"
        with open("/proc/self/mountinfo") as fh:
            fuse = [line for line in fh if f" {site.loop} " in line]
        assert fuse and "nosuid" in fuse[0] and "nodev" in fuse[0]
    finally:
        destroy_container(str(site.udi), str(site.loop))
        container.release()
    assert child.poll() is not None


def test_unprivileged_mode_refuses_roothook(site, user):
    ident = site.images.ids["plain"]
    image = ImageSource(ident, "squashfs", str(site.images.path / f"{ident}.squashfs"))
    spec = spec_for(site, user, image, LoopImageMount(), privileged=False,
                    modules=[ModuleSpec("m", roothook="/bin/true")])
    with pytest.raises(BuildError, match="roothook needs root"):
        build_container(spec)
    assert site.mounts() == []


def test_local_image_needs_allow_local_chroot(site, user):
    local = site.tmp / "localroot"
    (local / "bin").mkdir(parents=True)
    (local / "marker").write_text("local\n")
    image = ImageSource(str(local), "VFS", str(local))
    with pytest.raises(BuildError, match="allowLocalChroot"):
        build_container(spec_for(site, user, image, LoopImageMount()))
    build_container(spec_for(site, user, image, LoopImageMount(), allow_local_chroot=True))
    assert (site.udi / "marker").read_text() == "local\n"
    assert not os.path.ismount(site.loop)
