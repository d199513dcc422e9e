"""The builder's local (directory) images."""
from __future__ import annotations

import os

import pytest

from shifter_runtime.build import BuildError, ImageSource, build_container

from conftest import spec_for

pytestmark = pytest.mark.integration


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


@pytest.mark.parametrize("case", ["private-parent", "missing", "file"])
def test_local_image_is_reached_with_the_users_rights(site, user, case):
    """Root builds the container, but a directory the user cannot reach (a 0700 parent)
    is not lent to them: its readable children would otherwise be in the container."""
    parent = site.tmp / "private"
    (parent / "pub").mkdir(parents=True)
    (parent / "pub" / "secret").write_text("not yours\n")
    parent.chmod(0o700)
    target = {"private-parent": parent / "pub", "missing": site.tmp / "nothere",
              "file": parent.parent / "afile"}[case]
    if case == "file":
        target.write_text("x")
    image = ImageSource(str(target), "VFS", str(target))
    want = {"private-parent": f"image local:{target}: permission denied for {user.name}",
            "missing": f"image local:{target}: local image is not a directory",
            "file": f"image local:{target}: local image is not a directory"}[case]
    with pytest.raises(BuildError) as err:
        build_container(spec_for(site, user, image, allow_local_chroot=True))
    assert str(err.value) == want
    assert site.mounts() == []
