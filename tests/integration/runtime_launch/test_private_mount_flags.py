"""Mount flags of a private container, read from inside it (audit gap 2).

``shifter --image`` without setupRoot builds the container in the user's own mount
namespace.  Every mount the user can see there must be nosuid, and nodev except
/dev: siteFs (one ``rec`` whose source holds a submount that is suid,dev on the
host), a module siteFs and copyPath, optUdiImage, a user volume, the writable
overlay root (mountUdiRootWritable=1) and the system binds (/proc, /sys, /dev, /tmp).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from testbed.hostmounts import suid_dev_tmpfs

pytestmark = pytest.mark.integration

USER = "shifteruser"


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(mount point, per-mount options, fs root) of every line of a mountinfo."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 6 and "-" in fields:
            rows.append((fields[4], fields[5], fields[3]))
    return rows


def bind_of(root_field: str, path: Path) -> bool:
    """Whether a mount whose mountinfo root is ``root_field`` binds ``path`` (the root is
    the path within its file system: all of it, or its tail if /tmp is a mount)."""
    return root_field != "/" and str(path).endswith(root_field)


def flags_conf(launch_site, name: str, extra: str) -> Path:
    conf = launch_site.base / name
    conf.write_text(launch_site.conf.read_text() + extra)
    conf.chmod(0o644)
    return conf


@pytest.fixture
def outside():
    """A 0755 directory outside the launch site (the ``shifter`` fixture reports any
    mount under the site as left behind by the launch)."""
    path = Path(tempfile.mkdtemp(prefix="shifter-flags-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_every_private_mount_is_nosuid_and_nodev(shifter, launch_site, test_users, outside):
    base = outside
    opt, modcopy, modfs, rec = (base / n for n in ("opt", "modcopy", "modfs", "rec"))
    # optUdiImage holds modules/flags: see test_opt_udi_image_with_a_module_copy_path
    for d in (opt / "modules/flags", modcopy, modfs, rec):
        d.mkdir(parents=True, exist_ok=True)
    (opt / "optfile").write_text("opt\n")
    (modcopy / "tool").write_text("tool\n")
    data = base / "data"
    data.mkdir(exist_ok=True)
    user = test_users[0]
    os.chown(data, user.uid, user.gid)
    for d in (opt, opt / "modules", opt / "modules/flags", modcopy, modfs, rec):
        d.chmod(0o755)
    conf = flags_conf(launch_site, "flags.conf",
                      "mountUdiRootWritable=1\n"
                      f"optUdiImage={opt}\n"
                      f"siteFs={rec}:/site/rec:rec;{rec}:/site/recro:rec:ro\n"
                      f"module_flags_copyPath={modcopy}\n"
                      f"module_flags_siteFs={modfs}:/modfs\n")
    with suid_dev_tmpfs(rec / "sub"):
        proc = shifter(USER, "--image=id:plain", f"--volume={data}:/data", "--module=flags",
                       "sh", "-c", "cat /proc/self/mountinfo",
                       env={"SHIFTER_CONFIG": str(conf)})
    assert proc.returncode == 0, proc.stderr
    rows = parse_mountinfo(proc.stdout)
    points = {point for point, _, _ in rows}
    expected = {"/", "/proc", "/sys", "/dev", "/tmp", "/home", "/site/rec", "/site/rec/sub",
                "/site/recro", "/site/recro/sub", "/modfs", "/opt/udiImage",
                "/opt/udiImage/modules/flags", "/data"}
    assert expected <= points, f"missing: {sorted(expected - points)}"
    for point, opts, _ in rows:  # a read-only recursive siteFs is read-only all through
        if point == "/site/recro" or point.startswith("/site/recro/"):
            assert "ro" in opts.split(","), f"{point} is writable ({opts})"
    root_opts = next(opts for point, opts, _ in rows if point == "/")
    assert "rw" in root_opts.split(","), "mountUdiRootWritable=1 gave a read-only root"
    bad = []
    for point, opts, _ in rows:
        flags = opts.split(",")
        if "nosuid" not in flags:
            bad.append(f"{point} not nosuid ({opts})")
        if point != "/dev" and not point.startswith("/dev/") and "nodev" not in flags:
            bad.append(f"{point} not nodev ({opts})")
    assert not bad, "\n".join(bad)


def test_volume_through_user_planted_relative_symlink_stays_inside(shifter, launch_site,
                                                                     test_users):
    """A user's symlink ``/tmp/<dir>/esc -> ../../../../../../<name>`` (host-only
    ``/<name>``) as a volume target resolves inside the container: the volume lands
    on the container's ``/<name>`` (made there by a first volume), which mountinfo
    inside shows with the volume's own root; a resolution that followed the link out
    would have covered the host's ``/<name>``, out of the container's sight."""
    user = test_users[0]
    name = f"shifter-escape-{os.getpid()}-{launch_site.base.name}"
    host_dir = Path("/") / name
    playground = launch_site.base / "flags" / f"esc-{os.getpid()}"
    first, second = launch_site.base / "flags" / "esc-first", launch_site.base / "flags" / "esc-second"
    host_dir.mkdir(mode=0o755)
    try:
        for d in (playground, first, second):
            d.mkdir(exist_ok=True)
            os.chown(d, user.uid, user.gid)
        (first / "who").write_text("first\n")
        (second / "who").write_text("second\n")
        link = playground / "esc"
        link.symlink_to("../" * 8 + name)
        os.lchown(link, user.uid, user.gid)
        proc = shifter(USER, "--image=id:plain", f"--volume={first}:/{name}",
                       f"--volume={second}:{link}", "sh", "-c",
                       f"cat /{name}/who; readlink {link}; cat /proc/self/mountinfo")
    finally:
        host_dir.rmdir()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["second", "../" * 8 + name], proc.stdout
    at_name = [(opts, root) for point, opts, root in parse_mountinfo(proc.stdout)
               if point == f"/{name}"]
    assert len(at_name) == 2, at_name
    assert bind_of(at_name[0][1], first) and bind_of(at_name[1][1], second), at_name
    assert not [p for p, _, _ in parse_mountinfo(proc.stdout) if p == str(link)]


def test_opt_udi_image_with_a_module_copy_path(shifter, launch_site, outside):
    """Both reach the private container's /opt/udiImage, as in a setupRoot container."""
    opt, modcopy = outside / "opt", outside / "modcopy"
    for d in (opt, modcopy):
        d.mkdir(mode=0o755)
    (opt / "optfile").write_text("opt\n")
    (modcopy / "tool").write_text("tool\n")
    conf = flags_conf(launch_site, "optudi.conf", f"optUdiImage={opt}\n"
                      f"module_copy_copyPath={modcopy}\n")
    proc = shifter(USER, "--image=id:plain", "--module=copy", "cat",
                   "/opt/udiImage/optfile", "/opt/udiImage/modules/copy/tool",
                   env={"SHIFTER_CONFIG": str(conf)})
    assert (proc.returncode, proc.stdout) == (0, "opt\ntool\n"), proc.stderr


def test_volume_through_image_symlink_lands_inside_per_mountinfo(shifter, launch_site,
                                                                 test_users):
    """The image's ``/escape -> /``: a volume on ``/escape/<name>`` is mounted there, as
    the container's own mountinfo shows (the site layer's directory shadows the link);
    nothing is mounted on ``/<name>``, inside or (followed out) beyond the root."""
    user = test_users[0]
    name = f"shifter-escape-img-{os.getpid()}"
    data = launch_site.base / "flags" / f"escimg-{os.getpid()}"
    data.mkdir(exist_ok=True)
    (data / "who").write_text("data\n")
    os.chown(data, user.uid, user.gid)
    proc = shifter(USER, "--image=id:plain", f"--volume={data}:/escape/{name}", "sh", "-c",
                   f"cat /escape/{name}/who; cat /proc/self/mountinfo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("data\n"), proc.stdout
    rows = parse_mountinfo(proc.stdout)
    at_name = [(p, root) for p, _, root in rows if p.endswith(name)]
    assert len(at_name) == 1 and at_name[0][0] == f"/escape/{name}", at_name
    assert bind_of(at_name[0][1], data), at_name
