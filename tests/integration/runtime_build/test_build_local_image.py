"""The builder's local (directory) images."""
from __future__ import annotations

import os

import pytest

from shifter_runtime.build import (BuildError, BuildSpec, EtcPolicy, ImageSource, UserInfo,
                                   build_container)

pytestmark = pytest.mark.integration


def spec_for(site, user, image: ImageSource, **extra) -> BuildSpec:
    return BuildSpec(udi_mount=str(site.udi), loop_mount=str(site.loop), image=image,
                     user=UserInfo(user.name, user.uid, user.gid, tuple(user.groups)),
                     state=b"{}", writable=True,
                     etc=EtcPolicy(populate_dynamically=True), **extra)


def test_local_image_needs_allow_local_chroot(site, user):
    local = site.tmp / "localroot"
    (local / "bin").mkdir(parents=True)
    (local / "marker").write_text("local\n")
    image = ImageSource(str(local), "VFS", str(local))
    with pytest.raises(BuildError, match="allowLocalChroot"):
        build_container(spec_for(site, user, image))
    build_container(spec_for(site, user, image, allow_local_chroot=True))
    assert (site.udi / "marker").read_text() == "local\n"
    assert not os.path.ismount(site.loop)
