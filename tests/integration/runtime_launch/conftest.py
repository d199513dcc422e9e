"""A private site for the ``shifter`` launch tests: config, images, users.

Everything lives under one 0755 directory in /tmp (the test users must reach
it): a busybox image with a setuid-root and a file-capability copy of busybox,
a symlink pointing out of the image, several ``<id>.meta`` variants (entry
point, env, workdir, user and group ACLs, an unreadable image file), a
root-owned ``udiRoot.conf`` with siteFs, site env and two modules.

The command under test is ``$SHIFTER_TEST_PREFIX/bin/shifter`` (default the
installed /opt/shifter).  After every launch the helper checks that no
squashfuse process and no mount of the site is left.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.paths import PREFIX

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "id", "cat", "echo", "ls", "touch", "grep", "pwd", "env", "readlink",
           "head", "true", "false", "test", "mkdir", "stat")


@dataclass
class Site:
    """Paths of the test site and the ids of its images."""

    base: Path
    conf: Path
    images: Path
    udi: Path
    loop: Path
    ids: dict[str, str]
    hook_flag: Path
    prepared: bool = False  # a setupRoot container is expected on udi/loop


def _rootfs(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for name in APPLETS:
        (root / "bin" / name).symlink_to("busybox")
    for special in ("suid", "cap"):  # busybox picks its applet from argv[0]: keep the name
        (root / special).mkdir()
        shutil.copy2(BUSYBOX, root / special / "busybox")
    os.chmod(root / "suid/busybox", 0o4755)
    subprocess.run(["setcap", "cap_setuid,cap_dac_override+ep", str(root / "cap/busybox")],
                   check=True)
    (root / "bin/notexec").write_text("#!/bin/sh\n")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text("ID=launchtest\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "work").mkdir()
    (root / "escape").symlink_to("/")
    (root / "devices").mkdir()
    os.mknod(root / "devices/mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1))  # /dev/mem
    os.chmod(root / "devices/mem", 0o666)


def _meta(site: Site, ident: str, text: str, squashfs: Path, mode: int = 0o644) -> None:
    image = site.images / f"{ident}.squashfs"
    shutil.copyfile(squashfs, image)
    os.chmod(image, mode)
    (site.images / f"{ident}.meta").write_text(text)
    site.ids[ident] = ident


@pytest.fixture(scope="session")
def launch_site(test_users) -> Site:
    """Build the site once per session; remove it (and check it is unmounted) at the end."""
    if not (PREFIX / "bin/shifter").exists():
        pytest.fail(f"{PREFIX}/bin/shifter is not installed "
                    "(./scripts/install.sh --no-apt --tests)")
    os.chmod("/dev/fuse", 0o666)
    base = Path(tempfile.mkdtemp(prefix="shifter-launch-", dir="/tmp"))
    base.chmod(0o755)
    site = Site(base, base / "udiRoot.conf", base / "images", base / "udi", base / "loop", {},
                base / "flags/hookflag")
    for d in (site.images, site.udi, site.loop, base / "etc", base / "hooks", base / "flags"):
        d.mkdir(mode=0o755)
    (base / "flags").chmod(0o1777)
    _rootfs(base / "rootfs")
    squashfs = base / "image.squashfs"
    subprocess.run(["mksquashfs", str(base / "rootfs"), str(squashfs), "-noappend", "-quiet",
                    "-no-progress", "-all-root"], check=True)
    user1, user2 = test_users
    grp_gid = next(g for g in user1.groups if g != user1.gid)
    _meta(site, "pub", "FORMAT: squashfs\nENTRY: ['/bin/echo', 'entry']\nCMD: ['cmd']\n"
          "WORKDIR: /work\nENV: PATH=/bin:/usr/bin\nENV: IMAGEVAR=image\nENV: OVERRIDE=image\n",
          squashfs)
    _meta(site, "plain", "FORMAT: squashfs\n", squashfs)
    _meta(site, "priv", f"FORMAT: squashfs\nUSERACL: {user1.uid}\n", squashfs)
    _meta(site, "privgrp", f"FORMAT: squashfs\nGROUPACL: {grp_gid}\n", squashfs)
    _meta(site, "locked", f"FORMAT: squashfs\nUSERACL: {user1.uid},{user2.uid}\n", squashfs,
          mode=0o600)
    (base / "hooks/hook.sh").write_text(f"echo hook-ran > {site.hook_flag}\n")
    (base / "hooks/bad.sh").write_text("exit 3\n")
    site.conf.write_text(
        f"udiMount={site.udi}\nloopMount={site.loop}\nimagePath={site.images}\n"
        f"udiRootPath={PREFIX}\netcPath={base}/etc\nrootfsType=tmpfs\n"
        "populateEtcDynamically=1\nallowLibcPwdCalls=1\nmaxGroupCount=31\nallowLocalChroot=1\n"
        "siteFs=/home:/home\n"
        "siteEnv=SHIFTER_RUNTIME=1 OVERRIDE=site\nsiteEnvAppend=PATH=/opt/udiImage/bin\n"
        f"module_hook_copyPath={base}/hooks\n"
        "module_hook_userhook=/opt/udiImage/modules/hook/hook.sh\n"
        "module_hook_siteEnv=MODVAR=mod\n"
        f"module_bad_copyPath={base}/hooks\n"
        "module_bad_userhook=/opt/udiImage/modules/bad/bad.sh\n"
        "module_root_roothook=/bin/true\n")
    for path in (site.conf, *site.images.iterdir(), *(base / "hooks").iterdir()):
        if path.suffix != ".squashfs" or path.stem != "locked":
            os.chmod(path, 0o644)
    yield site
    assert_clean(site)
    shutil.rmtree(base)


def leftovers(site: Site) -> list[str]:
    """Mounts of the site and squashfuse processes still around."""
    with open("/proc/mounts") as f:
        found = [line.split()[1] for line in f if str(site.base) in line]
    if site.prepared:
        found = [m for m in found if not m.startswith((str(site.udi), str(site.loop)))]
    for pid in os.listdir("/proc"):  # squashfuse_ll serving one of our images
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read().split(b"\0")[0].endswith(b"squashfuse_ll"):
                    continue
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(t.startswith(str(site.base)) for t in targets):
            found.append(f"squashfuse_ll pid {pid}")
    return found


def assert_clean(site: Site, wait: float = 3.0) -> None:
    """Nothing of a launch may outlive it (squashfuse ends with the command)."""
    deadline = time.monotonic() + wait
    while (left := leftovers(site)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"left behind after the launch: {left}"


@pytest.fixture
def shifter(launch_site):
    """``shifter(user, *args, env={}, cwd=None)`` runs the command as ``user`` (a name)."""
    def run(user: str, *args: str, env: dict[str, str] | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess:
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        cmd = [] if user == "root" else ["runuser", "-u", user, "--"]
        cmd += ["env", f"SHIFTER_CONFIG={launch_site.conf}", *extra, str(PREFIX / "bin/shifter"),
                *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd or "/")
        assert_clean(launch_site)
        return proc
    return run


@pytest.fixture
def prepared(launch_site, test_users):
    """``setupRoot`` of image ``plain`` for shifteruser; ``unsetupRoot`` afterwards."""
    user = test_users[0]
    setup = subprocess.run([str(PREFIX / "bin/setupRoot"), "-c", str(launch_site.conf),
                            "-u", user.name, "-U", str(user.uid), "-G", str(user.gid),
                            "id", "plain"], capture_output=True, text=True, timeout=60)
    launch_site.prepared = True
    try:
        assert setup.returncode == 0, setup.stderr
        yield user
    finally:
        launch_site.prepared = False
        teardown = subprocess.run([str(PREFIX / "bin/unsetupRoot"), "-c", str(launch_site.conf)],
                                  capture_output=True, text=True, timeout=60)
        assert teardown.returncode == 0, teardown.stderr
        assert_clean(launch_site)
