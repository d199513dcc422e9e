"""setupRoot volume targets through symlinks stay inside the container (audit gaps 11, 12).

* The image's ``/escape2 -> ../../../../../../<name>``, where ``/<name>`` exists on the
  host only: followed from the host, the link would reach the host's ``/<name>``;
  resolved inside the container it reaches the container's ``/<name>``.
* A symlink the user plants in their home (a siteFs) towards ``/etc`` or another
  user's directory.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from conftest import extra_image

pytestmark = pytest.mark.integration

IMAGE_ID = "escape20001"


def mount_rows(prefix: str) -> list[tuple[str, str]]:
    """(mount point, fs root) of host mounts at or below ``prefix``, oldest first
    (mountinfo: os.path.ismount misses binds made within one file system)."""
    rows = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            if fields[4] == prefix or fields[4].startswith(prefix.rstrip("/") + "/"):
                rows.append((fields[4], fields[3]))
    return rows


def bind_of(root_field: str, path: Path) -> bool:
    """Whether a mount whose mountinfo root is ``root_field`` binds ``path`` (the root is
    the path within its file system: all of it, or its tail if /tmp is a mount)."""
    return root_field != "/" and str(path).endswith(root_field)


@pytest.fixture(scope="module")
def host_only():
    """A directory ``/<name>`` on the host that no container has."""
    path = Path("/") / f"shifter-escape-{secrets.token_hex(6)}"
    path.mkdir(mode=0o755)
    yield path
    path.rmdir()


@pytest.fixture(scope="module")
def escape_image(rt_images, host_only):
    """Plain busybox image plus ``/escape2 -> ../../../../../../<host_only name>``."""
    def build(root: Path) -> None:
        (root / "escape2").symlink_to("../" * 6 + host_only.name)
    with extra_image(rt_images.path, IMAGE_ID, build) as ident:
        yield ident


def user_dir(site, user, name: str, owner=None) -> Path:
    path = site.tmp / name
    path.mkdir()
    (path / "who").write_text(f"{name}\n")
    os.chown(path, *(owner or (user.uid, user.gid)))
    return path


def test_escape_link_to_a_host_only_dir_is_refused_cleanly(site, user, escape_image,
                                                           host_only):
    """Without ``/<name>`` in the container the target does not exist: one line, nothing
    mounted, the host's ``/<name>`` untouched (a resolution on the host would have
    found it and mounted there)."""
    vol = user_dir(site, user, "vol")
    # The attack is real: followed on the host, the link in {udi} reaches /<name>.
    assert os.path.normpath(f"{site.udi}/{'../' * 6}{host_only.name}") == str(host_only)
    done = site.setup("-u", user.name, "-v", f"{vol}:/escape2", "id", escape_image,
                      check=False)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert mount_rows(str(host_only)) == []
    assert site.mounts() == []


def test_escape_link_lands_on_the_containers_own_dir(site, user, escape_image, host_only):
    """With ``/<name>`` made in the container (a first volume), the link leads the second
    volume onto it: mounted at ``{udi}/<name>``, never on the host's ``/<name>``."""
    first, second = user_dir(site, user, "first"), user_dir(site, user, "second")
    site.setup("-u", user.name, "-v", f"{first}:/{host_only.name}", "-v",
               f"{second}:/escape2", "id", escape_image)
    link = site.udi / "escape2"
    assert os.readlink(link) == "../" * 6 + host_only.name
    assert os.path.realpath(link) == str(host_only)  # what following it on the host gives
    inside = site.udi / host_only.name
    roots = [root for _, root in mount_rows(str(inside))]
    assert len(roots) == 2 and bind_of(roots[0], first) and bind_of(roots[1], second), roots
    assert (inside / "who").read_text() == "second\n"
    assert mount_rows(str(host_only)) == []
    ran = site.in_container(user, "cat /escape2/who")
    assert ran.stdout == "second\n", ran.stderr


@pytest.fixture
def planted(user):
    """``plant(name, target)``: a symlink in the user's home (owned by the user),
    removed afterwards."""
    made = []

    def plant(name: str, target: str) -> Path:
        link = Path(user.home) / f"{name}-{secrets.token_hex(4)}"
        link.symlink_to(target)
        os.lchown(link, user.uid, user.gid)
        made.append(link)
        return link
    yield plant
    for link in made:
        link.unlink()


def test_user_symlink_in_home_to_etc_is_refused(site, user, planted):
    link = planted("etc-link", "/etc")
    vol = user_dir(site, user, "vol")
    done = site.setup("-u", user.name, "-v", f"{vol}:{link}", "id", site.images.ids["plain"],
                      check=False)
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "resolves to /etc" in done.stderr and "not allowed" in done.stderr, done.stderr
    assert site.mounts() == []
    assert mount_rows("/etc") == []


def test_user_symlink_in_home_to_another_users_dir_is_refused(site, user, test_users,
                                                              planted):
    other = test_users[1]
    victim = Path(other.home) / f"victim-{secrets.token_hex(4)}"
    victim.mkdir(mode=0o755)
    os.chown(victim, other.uid, other.gid)
    try:
        link = planted("other-link", str(victim))
        vol = user_dir(site, user, "vol")
        done = site.setup("-u", user.name, "-v", f"{vol}:{link}", "id",
                          site.images.ids["plain"], check=False)
        assert done.returncode == 1, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "not owned by the user" in done.stderr, done.stderr
        assert site.mounts() == []
        assert mount_rows(str(victim)) == []
    finally:
        site.unsetup()  # a mount on the victim (in the container) would block rmdir
        victim.rmdir()
