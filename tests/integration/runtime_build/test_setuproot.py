"""setupRoot / unsetupRoot on real images, real loop devices, real mounts (as root)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def mountinfo(base: Path) -> dict[str, tuple[str, str]]:
    """mount point -> (mount options, fs type) for mounts at or below ``base``."""
    out = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4]
            if point == str(base) or point.startswith(str(base) + "/"):
                fstype = fields[fields.index("-") + 1]
                out[point] = (fields[5], fstype)
    return out


def test_upstream_integration_checks(site, user):
    bb = site.images.ids["busybox"]
    site.setup("-u", user.name, "id", bb)
    mtab = site.udi / "etc/mtab"
    assert mtab.is_symlink() and os.readlink(mtab) == "/proc/mounts"
    passwd = (site.udi / "etc/passwd").read_text().splitlines()
    assert any(line.startswith(f"{user.name}:x:{user.uid}:{user.gid}:") for line in passwd)
    expected = f'{{"identifier":"{bb}","user":"{user.name}","volMap":"","modules":""}}'
    assert (site.udi / "var/shifterConfig.json").read_bytes() == expected.encode()
    ran = site.in_container(user, "id -u; cat /etc/os-release; ls /proc/self/status")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == str(user.uid)


def test_every_mount_is_nosuid_and_nodev_except_dev(site, user):
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    mounts = mountinfo(site.tmp)
    assert str(site.udi) in mounts and str(site.loop) in mounts
    for point, (opts, _) in mounts.items():
        flags = opts.split(",")
        assert "nosuid" in flags, f"{point} is not nosuid: {opts}"
        if not (point == f"{site.udi}/dev" or point.startswith(f"{site.udi}/dev/")):
            assert "nodev" in flags, f"{point} is not nodev: {opts}"
    assert mounts[str(site.loop)] == (mounts[str(site.loop)][0], "squashfs")
    assert "ro" in mounts[str(site.loop)][0].split(",")
    assert mounts[f"{site.udi}/proc"][1] == "proc"


def test_image_content_merged_and_site_wins(site, user):
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    assert (site.udi / "opt/app/hello").read_text() == "hello from the image\n"
    assert (site.udi / "var/log/image.log").exists()
    assert (site.udi / "etc/os-release").read_text() == "ID=rtbuild\n"
    assert (site.udi / "etc/profile").exists()
    assert "root:x:0:0" not in (site.udi / "etc/passwd").read_text()
    assert (site.udi / "etc/shadow").read_bytes() == b""
    for sub in ("etc/udiImage", "opt/udiImage/modules", "var/spool", "var/empty", "etc/ssh"):
        assert (site.udi / sub).is_dir(), sub


def test_image_is_read_only(site, user):
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    ran = site.in_container(user, "touch /bin/new 2>&1; touch /opt/app/new 2>&1")
    assert ran.stdout.count("Read-only file system") == 2, ran.stdout
    with pytest.raises(OSError):
        (site.loop / "newfile").write_text("x")


def test_read_only_root_when_not_writable(site, user):
    site.write_conf(mountUdiRootWritable="0")
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    with pytest.raises(OSError) as err:
        (site.udi / "newfile").write_text("x")
    assert err.value.errno == 30  # EROFS
    ran = site.in_container(user, "touch /tmp/rtbuild-ok-$$ && echo ok; rm -f /tmp/rtbuild-ok-$$")
    assert ran.stdout.strip() == "ok"


def test_group_file_filtered_to_max_group_count(site, user):
    site.write_conf(maxGroupCount="1")
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    lines = (site.udi / "etc/group").read_text().splitlines()
    with_member = [line for line in lines if line.endswith(f":{user.name}")]
    assert len(with_member) == 1
    assert all(not line.split(":")[2] == "0" for line in lines)


def test_static_etc_from_etc_path(site, user):
    (site.etc / "passwd").write_text(f"{user.name}:x:{user.uid}:{user.gid}::/home/x:/bin/sh\n"
                                     "other:x:5000:5000::/:/bin/sh\n")
    (site.etc / "group").write_text(f"root:x:0:\nstaff:x:{user.gid}:{user.name}\n"
                                    "others:x:5000:other\n")
    (site.etc / "nsswitch.conf").write_text("passwd: files\n")
    site.write_conf(populateEtcDynamically="0", allowLibcPwdCalls="0")
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    assert (site.udi / "etc/passwd").read_text().startswith(f"{user.name}:x:{user.uid}")
    assert (site.udi / "etc/group").read_text() == (
        f"staff:x:{user.gid}:{user.name}\nothers:x:5000:\n")
    assert (site.udi / "etc/nsswitch.conf").stat().st_uid == 0


def test_hostsfile_from_node_spec(site, user):
    site.setup("-u", user.name, "-N", "nid1/2 nid2/1", "id", site.images.ids["plain"])
    assert (site.udi / "var/hostsfile").read_text() == "nid1\nnid1\nnid2\n"


def test_bad_node_spec_fails_cleanly(site, user):
    done = site.setup("-u", user.name, "-N", "nid1", "id", site.images.ids["plain"],
                      check=False)
    assert done.returncode == 2
    assert "node spec" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert site.mounts() == []


def test_site_fs_flags(site, user):
    src = site.tmp / "sitesrc"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("site\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev", "tmpfs", str(src / "sub")],
                   check=True)
    try:
        (src / "sub/inner").write_text("inner\n")
        site.write_conf(siteFs=f"{src}:/site/rec:rec;{src}:/site/plain;{src}:/site/ro:ro")
        site.setup("-u", user.name, "id", site.images.ids["plain"])
        mounts = mountinfo(site.udi)
        assert (site.udi / "site/rec/sub/inner").exists()
        assert not (site.udi / "site/plain/sub/inner").exists()
        assert "ro" in mounts[f"{site.udi}/site/ro"][0].split(",")
        assert "rw" in mounts[f"{site.udi}/site/plain"][0].split(",")
        ran = site.in_container(user, "cat /site/ro/file")
        assert ran.stdout == "site\n"
    finally:
        site.unsetup()
        subprocess.run(["umount", "-l", str(src / "sub")], check=True)


def test_site_fs_slave_sees_later_host_mounts(site, user):
    src = site.tmp / "shared"
    src.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(src)], check=True)
    subprocess.run(["mount", "--make-shared", str(src)], check=True)
    try:
        (src / "late").mkdir()
        site.write_conf(siteFs=f"{src}:/s_slave:slave;{src}:/s_private")
        site.setup("-u", user.name, "id", site.images.ids["plain"])
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src / "late")], check=True)
        mounts = mountinfo(site.udi)
        assert f"{site.udi}/s_slave/late" in mounts
        assert f"{site.udi}/s_private/late" not in mounts
    finally:
        site.unsetup()
        subprocess.run(["umount", "-R", "-l", str(src)], check=True)


def test_user_volume_ro_and_missing_target_created(site, user):
    vol = site.tmp / "vol"
    vol.mkdir()
    (vol / "data.txt").write_text("payload\n")
    os.chown(vol, user.uid, user.gid)
    site.setup("-u", user.name, "-v", f"{vol}:/data/deep:ro", "id", site.images.ids["plain"])
    mounts = mountinfo(site.udi)
    assert "ro" in mounts[f"{site.udi}/data/deep"][0].split(",")
    ran = site.in_container(user, "cat /data/deep/data.txt; touch /data/deep/x 2>&1")
    assert ran.stdout.startswith("payload\n") and "Read-only file system" in ran.stdout
    state = (site.udi / "var/shifterConfig.json").read_text()
    assert f'"volMap":"{vol}:/data/deep:ro"' in state


@pytest.mark.parametrize("target", ["/etc/x", "/var/log", "/opt", "/opt/udiImage/x", "/"])
def test_forbidden_volume_targets_rejected(site, user, target):
    done = site.setup("-u", user.name, "-v", f"{site.tmp}:{target}", "id",
                      site.images.ids["plain"], check=False)
    assert done.returncode == 1
    assert "not allowed" in done.stderr or "cannot mount over" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert site.mounts() == []


def test_volume_source_resolved_as_the_user(site, user):
    secret = site.tmp / "secret"
    (secret / "inner").mkdir(parents=True)
    secret.chmod(0o700)
    done = site.setup("-u", user.name, "-v", f"{secret}/inner:/data", "id",
                      site.images.ids["plain"], check=False)
    assert done.returncode == 1 and "Permission denied" in done.stderr, done.stderr
    assert site.mounts() == []


def test_volume_source_must_be_visible_in_container(site, user):
    done = site.setup("-u", user.name, "-v", "/root:/data", "id", site.images.ids["plain"],
                      check=False)
    assert done.returncode == 1 and "/root" in done.stderr
    assert site.mounts() == []


def test_modules_site_fs_copy_path_and_roothook(site, user):
    src = site.tmp / "modsrc"
    (src / "bin").mkdir(parents=True)
    (src / "bin/tool").write_text("#!/bin/sh\n")
    (src / "bin/tool").chmod(0o700)
    hook = site.tmp / "roothook.sh"
    hook.write_text('echo "$(id -u) $(pwd)" > var/roothook.out\n')
    site.write_conf(**{"module_m1_siteFs": f"{src}:/mod1", "module_m1_copyPath": str(src),
                       "module_m1_roothook": str(hook)})
    site.setup("-u", user.name, "-m", "m1", "id", site.images.ids["plain"])
    assert (site.udi / "mod1/bin/tool").exists()
    copied = site.udi / "opt/udiImage/modules/m1/bin/tool"
    assert copied.stat().st_mode & 0o555 == 0o555
    assert (site.udi / "var/roothook.out").read_text() == f"0 {site.udi}\n"
    assert '"modules":"m1,"' in (site.udi / "var/shifterConfig.json").read_text()


def test_failing_site_hook_leaves_nothing(site, user):
    hook = site.tmp / "pre.sh"
    hook.write_text("echo broken >&2; exit 3\n")
    site.write_conf(sitePreMountHook=str(hook))
    done = site.setup("-u", user.name, "id", site.images.ids["plain"], check=False)
    assert done.returncode == 1
    assert "sitePreMountHook" in done.stderr and "exit 3" in done.stderr
    assert site.mounts() == []


def test_failed_setup_late_leaves_nothing(site, user):
    done = site.setup("-u", user.name, "-v", f"{site.tmp}/missing:/data", "id",
                      site.images.ids["plain"], check=False)
    assert done.returncode == 1 and "missing" in done.stderr
    assert site.mounts() == []


def test_private_image_refused_for_user_outside_acl(site, user):
    done = site.setup("-u", user.name, "id", site.images.ids["private"], check=False)
    assert done.returncode == 1 and "permission denied" in done.stderr
    assert site.mounts() == []


def test_missing_image_is_one_line_error(site, user):
    done = site.setup("-u", user.name, "id", "doesnotexist", check=False)
    assert (done.returncode, done.stderr) == (
        1, f"setupRoot: image id:doesnotexist: not found in {site.images.path}\n")


def test_second_setup_refused_first_intact(site, user):
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    done = site.setup("-u", user.name, "id", site.images.ids["plain"], check=False)
    assert done.returncode == 1 and "already in use" in done.stderr
    assert (site.udi / "var/shifterConfig.json").exists()


def test_unsetup_twice_and_kills_container_processes(site, user):
    site.setup("-u", user.name, "id", site.images.ids["plain"])
    proc = subprocess.Popen(["chroot", f"--userspec={user.uid}:{user.gid}", str(site.udi),
                             "/bin/sh", "-c", "sleep 300"])
    try:
        time.sleep(0.2)
        site.unsetup()
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert site.mounts() == []
    site.unsetup()
    assert site.mounts() == []


def test_unsetup_after_half_built_setup(site, user):
    site.udi.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(site.udi)], check=True)
    (site.udi / "proc").mkdir()
    subprocess.run(["mount", "-t", "proc", "proc", str(site.udi / "proc")], check=True)
    site.unsetup()
    assert site.mounts() == []


def test_per_node_cache_xfs_owned_by_user(site, user):
    cache = site.tmp / "pnc"
    cache.mkdir(mode=0o700)
    site.write_conf(perNodeCachePath=str(cache), perNodeCacheSizeLimit="1g")
    site.setup("-u", user.name, "-v", "/tmp:/scratch:perNodeCache=size=320m", "id",
               site.images.ids["plain"])
    mounts = mountinfo(site.udi)
    assert mounts[f"{site.udi}/scratch"][1] == "xfs"
    assert (site.udi / "scratch").stat().st_uid == user.uid
    assert list(cache.iterdir()) == []  # backing file already unlinked
    ran = site.in_container(user, "echo hi > /scratch/f && cat /scratch/f")
    assert ran.stdout == "hi\n", ran.stderr


def test_per_node_cache_limits_enforced(site, user):
    site.write_conf(perNodeCachePath=str(site.tmp), perNodeCacheSizeLimit="100m")
    done = site.setup("-u", user.name, "-v", "/tmp:/scratch:perNodeCache=size=320m", "id",
                      site.images.ids["plain"], check=False)
    assert done.returncode == 1 and "perNodeCacheSizeLimit" in done.stderr
    assert site.mounts() == []



def test_config_warnings_printed_and_setup_goes_on(site, user):
    site.write_conf(autoLoadKernelModule="1")
    done = site.setup("-u", user.name, "id", site.images.ids["plain"])
    assert done.stderr == (f"setupRoot: warning: {site.conf}:12: autoLoadKernelModule: "
                           "deprecated, ignored\n")
    assert (site.udi / "var/shifterConfig.json").exists()
    assert site.unsetup().stderr.startswith("unsetupRoot: warning: ")


def test_unknown_module_names_setuproots_own_option(site, user):
    done = site.setup("-u", user.name, "-m", "nosuch", "id", site.images.ids["plain"], check=False)
    assert (done.returncode, done.stderr) == (1, "setupRoot: -m: unknown shifter module 'nosuch'\n")
    assert site.mounts() == []
