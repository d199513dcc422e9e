"""Fixtures for setupRoot/unsetupRoot tests: images (busybox + attack images), a
per-test udiRoot.conf with udiMount/loopMount in a root-owned tmp dir, and a check
that every test leaves no mount and no loop device behind."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.paths import PREFIX

REPO = Path(__file__).resolve().parents[3]
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "id", "true", "stat", "touch", "mkdir", "echo", "readlink",
           "head", "test", "mknod", "chmod", "dd")
OTHER_UID = 4242


def _busybox_rootfs(root: Path) -> None:
    for sub in ("bin", "etc", "var/log", "opt/app", "usr/share"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/os-release").write_text("ID=rtbuild\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/profile").write_text("# image profile\n")
    (root / "opt/app/hello").write_text("hello from the image\n")
    (root / "var/log/image.log").write_text("log\n")


IDS_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    printf("%d %d %d %d\n", (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
    return 0;
}
"""


def _compile_ids(work: Path, out: Path) -> None:
    """A static program printing ruid euid rgid egid (setuid-root in the image)."""
    src = work / "ids.c"
    src.write_text(IDS_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)], check=True)


def _squash(root: Path, out: Path, *pseudo: str) -> None:
    args = ["mksquashfs", str(root), str(out), "-noappend", "-all-root", "-quiet",
            "-no-progress"]
    for definition in pseudo:
        args += ["-p", definition]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def _install(images: Path, ident: str, rootfs: Path, *pseudo: str, meta_extra: str = "") -> str:
    _squash(rootfs, images / f"{ident}.squashfs", *pseudo)
    (images / f"{ident}.meta").write_text(f"FORMAT: squashfs\n{meta_extra}")
    return ident


@contextmanager
def extra_image(images: Path, ident: str, build: Callable[[Path], None]) -> Iterator[str]:
    """A busybox image ``ident`` with ``build(rootfs)`` applied (``rootfs.parent`` is a
    scratch directory), in ``images`` for the ``with`` block."""
    work = Path(tempfile.mkdtemp(prefix=f"rtbuild-{ident}-"))
    try:
        root = work / "root"
        _busybox_rootfs(root)
        build(root)
        _install(images, ident, root)
    finally:
        shutil.rmtree(work)
    try:
        yield ident
    finally:
        for ext in ("squashfs", "meta"):
            (images / f"{ident}.{ext}").unlink(missing_ok=True)


def spec_for(site: "Site", user, image, **extra):
    """A BuildSpec for ``build_container`` on ``site`` for ``user`` (writable, /etc generated)."""
    from shifter_runtime.build import BuildSpec, EtcPolicy, UserInfo
    return BuildSpec(udi_mount=str(site.udi), loop_mount=str(site.loop), image=image,
                     user=UserInfo(user.name, user.uid, user.gid, tuple(user.groups)),
                     state=b"{}", writable=True,
                     etc=EtcPolicy(populate_dynamically=True), **extra)


@dataclass
class Images:
    """The image directory: ``busybox`` (the test bed's), ``plain`` (ours), ``evil``
    (attack image) and ``private`` (ACL of another uid)."""

    path: Path
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def rt_images(image_dir) -> Images:
    work = Path(tempfile.mkdtemp(prefix="rtbuild-img-"))
    work.chmod(0o755)
    images = Images(work / "images")
    images.path.mkdir(mode=0o755)
    bb = image_dir.ids["busybox"]
    for ext in ("squashfs", "meta"):
        shutil.copy2(Path(image_dir.path) / f"{bb}.{ext}", images.path / f"{bb}.{ext}")
    images.ids["busybox"] = bb

    plain = work / "plain"
    _busybox_rootfs(plain)
    images.ids["plain"] = _install(images.path, "plain0001", plain)
    images.ids["private"] = _install(images.path, "private0001", plain,
                                     meta_extra=f"USERACL: {OTHER_UID}\n")

    evil = work / "evil"
    _busybox_rootfs(evil)
    (evil / "home").symlink_to("/etc")          # siteFs /home would land on /etc
    (evil / "data").symlink_to("/")             # a user volume target leading to /
    (evil / "escape").symlink_to("../../../../../../../tmp")
    (evil / "var/spoolx").symlink_to("/root")
    _compile_ids(work, evil / "bin/suidids")
    (evil / "bin/suidids").chmod(0o6755)
    (evil / "devnodes").mkdir()
    images.ids["evil"] = _install(images.path, "evil0001", evil,
                                  "devnodes/null c 666 0 0 1 3",
                                  "devnodes/mem c 666 0 0 1 1")
    yield images
    shutil.rmtree(work)


@dataclass
class Site:
    """One test's node: ``conf`` path, ``udi``/``loop`` mount points, ``tmp`` dir."""

    tmp: Path
    conf: Path
    udi: Path
    loop: Path
    etc: Path
    images: Images

    def write_conf(self, **overrides: str) -> None:
        keys = {
            "udiMount": str(self.udi), "loopMount": str(self.loop),
            "imagePath": str(self.images.path), "udiRootPath": str(PREFIX),
            "etcPath": str(self.etc), "rootfsType": "tmpfs", "allowLibcPwdCalls": "1",
            "populateEtcDynamically": "1", "maxGroupCount": "31",
            "mountUdiRootWritable": "1", "siteFs": "/home:/home",
        }
        keys.update(overrides)
        lines = [f"{k}={v}" for k, v in keys.items() if v is not None]
        self.conf.write_text("\n".join(lines) + "\n")
        self.conf.chmod(0o644)

    def setup(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``setupRoot -c conf args...``."""
        return run_cli("setuproot", "-c", str(self.conf), *args, check=check)

    def unsetup(self, check: bool = True) -> subprocess.CompletedProcess:
        return run_cli("unsetuproot", "-c", str(self.conf), check=check)

    def in_container(self, user, script: str) -> subprocess.CompletedProcess:
        """Run ``sh -c script`` chrooted in the container as ``user`` (no no_new_privs,
        so only the mount flags keep setuid bits inert)."""
        spec = f"{user.uid}:{user.gid}"
        return subprocess.run(["chroot", f"--userspec={spec}", str(self.udi), "/bin/sh", "-c",
                               script], capture_output=True, text=True, timeout=30)

    def mounts(self) -> list[str]:
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh]
        return [p for p in points if p.startswith(str(self.tmp) + "/")]


def run_cli(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/usr/sbin:/bin:/sbin",
           "PYTHONPATH": f"{REPO / 'runtime'}:{REPO / 'imagegw'}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", f"shifter_runtime.cli.{module}", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} failed: {done.stderr}")
    return done


def loop_devices_for(path: Path, wait_s: float = 10.0) -> list[str]:
    """Loop devices backed by files under ``path``, after waiting up to ``wait_s`` for
    autoclear: a mount namespace created meanwhile by any other process (other test
    sessions run in parallel) holds a copy of the mounts until it ends."""
    deadline = time.monotonic() + wait_s
    while True:
        out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        left = [line for line in out.splitlines() if str(path) in line]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture
def site(rt_images, test_users) -> Site:
    tmp = Path(tempfile.mkdtemp(prefix="rtbuild-"))
    tmp.chmod(0o755)
    etc = tmp / "etc"
    etc.mkdir()
    made = Site(tmp, tmp / "udiRoot.conf", tmp / "udiMount", tmp / "loopMount", etc, rt_images)
    made.write_conf()
    yield made
    from shifter_runtime.build import destroy_container
    from shifter_runtime.launch.prepared import remove_plan
    destroy_container(str(made.udi), str(made.loop))
    remove_plan(str(made.conf))
    left_mounts = made.mounts()
    left_loops = loop_devices_for(rt_images.path)
    shutil.rmtree(tmp)
    assert not left_mounts, f"mounts left after teardown: {left_mounts}"
    assert not left_loops, f"test left loop devices behind: {left_loops}"


@pytest.fixture
def user(test_users):
    """The first unprivileged test user."""
    return test_users[0]

