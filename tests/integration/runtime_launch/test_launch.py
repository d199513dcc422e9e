"""``shifter`` run by the unprivileged test users, end to end (private containers)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.integration

USER, USER2 = "shifteruser", "shifteruser2"


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_all_capability_sets_zero_and_no_new_privs(shifter):
    proc = shifter(USER, "--image=id:plain", "cat", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    status = _status(proc.stdout)
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert status[name] == "0000000000000000", f"{name} is {status[name]}"
    assert status["NoNewPrivs"] == "1"


def test_uid_gid_and_supplementary_groups_kept(shifter, test_users, launch_site):
    user = test_users[0]
    shared = next(g for g in user.groups if g != user.gid)
    secret = launch_site.base / "group-only"
    secret.write_text("group secret\n")
    os.chown(secret, 0, shared)
    secret.chmod(0o640)
    proc = shifter(USER, "--image=id:plain", "sh", "-c",
                   f"id -u; id -g; cat {secret}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == [str(user.uid), str(user.gid), "group secret"]
    denied = shifter(USER2, "--image=id:plain", "cat", str(secret))
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_etc_mtab_links_to_proc_mounts_and_passwd_has_user(shifter, test_users):
    proc = shifter(USER, "--image=id:plain", "sh", "-c", "readlink /etc/mtab; cat /etc/passwd")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "/proc/mounts"
    user = test_users[0]
    assert any(line.startswith(f"{USER}:x:{user.uid}:{user.gid}:") for line in lines[1:])


def test_state_file_records_the_request(shifter):
    proc = shifter(USER, "--image=id:plain", "--volume=/home:/data:ro", "--module=hook",
                   "cat", "/var/shifterConfig.json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ('{"identifier":"plain","user":"shifteruser",'
                           '"volMap":"/home:/data:ro","modules":"hook,"}')


def test_default_command_is_shell_and_cwd_is_kept(shifter):
    proc = shifter(USER, "--image=id:pub", env={"SHELL": "/bin/pwd"}, cwd="/home")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/home"


def test_entrypoint_and_workdir_from_image(shifter):
    proc = shifter(USER, "--image=id:pub", "--entrypoint")
    assert proc.stdout.strip() == "entry cmd"
    proc = shifter(USER, "--image=id:pub", "--entrypoint", "args")
    assert proc.stdout.strip() == "entry args"
    proc = shifter(USER, "--image=id:pub", "--entrypoint=/bin/echo", "x")
    assert proc.stdout.strip() == "x"
    proc = shifter(USER, "--image=id:pub", "-w", "pwd")
    assert proc.stdout.strip() == "/work"
    proc = shifter(USER, "--image=id:pub", "--workdir=/bin", "pwd")
    assert proc.stdout.strip() == "/bin"


def test_environment_layering(shifter, launch_site):
    env_file = launch_site.base / "envfile"
    env_file.write_text("# comment\nFROMFILE=file\nIMAGEVAR=file\n")
    env_file.chmod(0o644)
    proc = shifter(USER, "--image=id:pub", f"--env-file={env_file}", "-e", "FROMFILE=cli",
                   "--module=hook", "env", env={"CALLER": "kept", "IMAGEVAR": "caller"})
    assert proc.returncode == 0, proc.stderr
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env["CALLER"] == "kept"
    assert env["IMAGEVAR"] == "file"          # image ENV < --env-file
    assert env["FROMFILE"] == "cli"           # --env-file < --env
    assert env["OVERRIDE"] == "site"          # image < site
    assert env["MODVAR"] == "mod"
    assert env["SHIFTER_RUNTIME"] == "1"
    assert env["PATH"] == "/bin:/usr/bin:/opt/udiImage/bin"
    assert env["SHIFTER_IMAGE"] == "pub" and env["SHIFTER_IMAGEREQUEST"] == "id:pub"
    clear = shifter(USER, "--image=id:pub", "--clearenv", "env", env={"CALLER": "x"})
    assert "CALLER=" not in clear.stdout and "IMAGEVAR=image" in clear.stdout


def test_exit_status_passed_through(shifter):
    assert shifter(USER, "--image=id:plain", "sh", "-c", "exit 42").returncode == 42
    missing = shifter(USER, "--image=id:plain", "no-such-command")
    assert missing.returncode == 127
    assert "no-such-command: No such file or directory" in missing.stderr
    assert shifter(USER, "--image=id:plain", "/bin/notexec").returncode == 126


def test_command_gets_default_sigpipe(shifter):
    """Python ignores SIGPIPE and SIGXFSZ; the user's command must not inherit that."""
    proc = shifter(USER, "--image=id:plain", "sh", "-c", "grep SigIgn /proc/self/status")
    ignored = int(proc.stdout.split()[1], 16)
    assert not ignored & (1 << 12), f"SIGPIPE ignored: {proc.stdout}"
    assert not ignored & (1 << 24), f"SIGXFSZ ignored: {proc.stdout}"


def test_setuid_root_and_file_capability_binaries_are_inert(shifter, test_users, launch_site):
    uid = str(test_users[0].uid)
    proc = shifter(USER, "--image=id:plain", "sh", "-c",
                   "stat -c %a /suid/busybox; /suid/busybox id -u")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4755", uid]
    # Precondition: the image really carries the file capability (else this is vacuous).
    extracted = launch_site.base / "cap-extract"
    subprocess.run(["unsquashfs", "-f", "-q", "-n", "-d", str(extracted),
                    str(launch_site.images / "plain.squashfs"), "cap/busybox"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        assert os.getxattr(extracted / "cap/busybox", "security.capability")
    finally:
        shutil.rmtree(extracted)
    secret = launch_site.base / "root-only"
    secret.write_text("root secret\n")
    secret.chmod(0o600)
    proc = shifter(USER, "--image=id:plain", "/cap/busybox", "sh", "-c",
                   f"grep CapEff /proc/self/status; cat {secret}")
    assert "CapEff:\t0000000000000000" in proc.stdout
    assert "root secret" not in proc.stdout and "Permission denied" in proc.stderr


def test_writable_root_keeps_writes_in_the_container(shifter, launch_site):
    """mountUdiRootWritable=1: an upper layer on the launch's tmpfs (gone with it)."""
    conf = launch_site.base / "writable.conf"
    conf.write_text(launch_site.conf.read_text() + "mountUdiRootWritable=1\n")
    conf.chmod(0o644)
    proc = shifter(USER, "--image=id:plain", "sh", "-c",
                   "echo new > /opt/added && cat /opt/added",
                   env={"SHIFTER_CONFIG": str(conf)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "new\n"
    again = shifter(USER, "--image=id:plain", "sh", "-c", "echo new > /opt/added")
    assert again.returncode != 0 and "Read-only file system" in again.stderr


def test_device_nodes_in_the_image_are_inert(shifter):
    proc = shifter(USER, "--image=id:plain", "sh", "-c",
                   "stat -c '%F %t,%T %a' /devices/mem; head -c 1 /devices/mem")
    assert proc.stdout.startswith("character special file 1,1 666")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr


def test_image_is_read_only(shifter):
    proc = shifter(USER, "--image=id:plain", "sh", "-c", "touch /bin/x || touch /etc/x || exit 9")
    assert proc.returncode == 9
    assert "Read-only file system" in proc.stderr


def test_host_root_is_unreachable(shifter):
    proc = shifter(USER, "--image=id:plain", "sh", "-c",
                   "cat /etc/os-release; ls /escape/usr/bin/python3; ls /../../usr/lib; "
                   "cat /proc/1/root/etc/hostname")
    assert proc.stdout.splitlines()[0] == "ID=launchtest"
    assert "python3" not in proc.stdout and "hostname" not in proc.stdout
    assert proc.returncode != 0


def test_user_volume_mounted_and_created(shifter, launch_site):
    data = launch_site.base / "data"
    data.mkdir(exist_ok=True)
    os.chown(data, *[int(x) for x in (os.stat("/home/shifteruser").st_uid,
                                       os.stat("/home/shifteruser").st_gid)])
    proc = shifter(USER, "--image=id:plain", f"--volume={data}:/new/dir", "sh", "-c",
                   "touch /new/dir/written && echo ok")
    assert proc.returncode == 0, proc.stderr
    assert (data / "written").exists()
    ro = shifter(USER, "--image=id:plain", f"--volume={data}:/data:ro", "touch", "/data/x")
    assert ro.returncode != 0 and not (data / "x").exists()


def test_volume_through_image_symlink_stays_inside(shifter, launch_site):
    """``/escape`` is a symlink to ``/`` in the image: the mount must not follow it out."""
    data = launch_site.base / "flags/escape-data"
    data.mkdir(exist_ok=True)
    data.chmod(0o777)
    proc = shifter(USER, "--image=id:plain", f"--volume={data}:/escape/shifter-escape",
                   "touch", "/escape/shifter-escape/inside")
    assert proc.returncode == 0, proc.stderr
    assert (data / "inside").exists()
    assert not os.path.exists("/shifter-escape")


def test_volume_target_symlinked_on_the_host_is_resolved_inside(shifter, launch_site):
    """A user symlink under a site mount (/home) cannot aim a volume at /etc."""
    home = "/home/shifteruser"
    link = f"{home}/etc-link"
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("/etc", link)
    try:
        proc = shifter(USER, "--image=id:plain", f"--volume={launch_site.base}:{link}", "true")
    finally:
        os.unlink(link)
    assert proc.returncode == 1
    assert "target '/etc' not allowed" in proc.stderr


@pytest.mark.parametrize("target", ["/etc", "/var/log", "/opt", "/proc/x", "/a/../etc"])
def test_forbidden_volume_targets_refused(shifter, target):
    proc = shifter(USER, "--image=id:plain", f"--volume=/home:{target}", "true")
    assert proc.returncode == 1
    assert proc.stderr.startswith("shifter: ") and len(proc.stderr.strip().splitlines()) == 1


def test_private_image_acls(shifter):
    assert shifter(USER, "--image=id:priv", "true").returncode == 0
    refused = shifter(USER2, "--image=id:priv", "true")
    assert refused.returncode == 1 and "permission denied" in refused.stderr
    assert shifter(USER, "--image=id:privgrp", "true").returncode == 0
    assert shifter(USER2, "--image=id:privgrp", "true").returncode == 1


def test_unreadable_private_image_points_to_slurm_path(shifter):
    proc = shifter(USER, "--image=id:locked", "true")
    assert proc.returncode == 1
    assert "Slurm path" in proc.stderr


def test_local_directory_image(shifter, launch_site):
    proc = shifter(USER, f"--image=local:{launch_site.base}/rootfs", "sh", "-c",
                   "cat /etc/os-release; touch /bin/x")
    assert proc.stdout.startswith("ID=launchtest")
    assert "Read-only file system" in proc.stderr


def test_root_may_not_run_shifter(shifter):
    proc = shifter("root", "--image=id:plain", "true")
    assert proc.returncode == 1
    assert "root may not run shifter" in proc.stderr


def test_module_userhook_runs_as_user(shifter, launch_site):
    flag = launch_site.hook_flag
    flag.unlink(missing_ok=True)
    proc = shifter(USER, "--image=id:plain", "--module=hook", "true")
    assert proc.returncode == 0, proc.stderr
    assert flag.read_text() == "hook-ran\n"
    assert flag.stat().st_uid == os.stat("/home/shifteruser").st_uid
    bad = shifter(USER, "--image=id:plain", "--module=bad", "echo", "never")
    assert bad.returncode == 1 and "never" not in bad.stdout
    assert re.search(r"Failed to setup module bad", bad.stderr)


def test_root_only_module_refused_in_private_container(shifter):
    proc = shifter(USER, "--image=id:plain", "--module=root", "true")
    assert proc.returncode == 1
    assert "roothook" in proc.stderr and "setupRoot" in proc.stderr


def test_unknown_image_and_bad_option_are_one_line_errors(shifter):
    for args in (["--image=id:nothere", "true"], ["--bogus", "true"], ["true"]):
        proc = shifter(USER, *args)
        assert proc.returncode != 0
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_installed_bytecode_is_complete_and_unchecked():
    """Users cannot write ``__pycache__``: a missing ``.pyc`` is compiled on every launch
    (about 15 ms), and a timestamp-checked one costs a stat per import."""
    import importlib.util
    from testbed.paths import PREFIX
    site = next((PREFIX / "venv/lib").glob("python3*/site-packages"))
    sources = [p for pkg in ("shifter_runtime", "shifter_slurm", "shifter_imagegw")
               for p in (site / pkg).rglob("*.py")]
    assert len(sources) > 50
    for source in sources:
        cached = importlib.util.cache_from_source(str(source))
        with open(cached, "rb") as fh:
            flags = int.from_bytes(fh.read(8)[4:], "little")
        assert flags == 0b01, f"{cached}: not unchecked-hash bytecode (flags {flags})"
