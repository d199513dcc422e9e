"""``accesstype: remote``: publish through ssh/scp with a key to a real sshd on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from shifter_imagegw.pipeline import PullError, PullRequest, pull_image
from shifter_imagegw.publish import RemotePublisher
from testbed.images import build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd of the test's own on a free port, root login with a fresh key only."""
    work = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "hostkey")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "client")], check=True)
    (work / "authorized_keys").write_text((work / "client.pub").read_text())
    (work / "authorized_keys").chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = work / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'hostkey'}\n"
                      f"AuthorizedKeysFile {work / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
                      "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                      f"PidFile {work / 'sshd.pid'}\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        opts = ["-p", str(port), "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={work / 'known'}"]
        yield {"port": port, "key": str(work / "client"), "ssh": opts,
               "scp": ["-P", str(port), *opts[2:]]}
    finally:
        proc.terminate()
        proc.wait(10)


def publisher(sshd, image_dir: Path) -> RemotePublisher:
    return RemotePublisher.from_config({"accesstype": "remote", "host": ["127.0.0.1"], "ssh": {
        "username": "root", "key": sshd["key"], "imageDir": str(image_dir),
        "sshCmdOptions": sshd["ssh"], "scpCmdOptions": sshd["scp"]}})


def test_remote_publish_then_meta_only(images, sshd, tmp_path):
    remote = tmp_path / "remote-images"
    remote.mkdir()
    old, young = remote / ".x.squashfs.77.0a0b0c0d.partial", remote / ".y.meta.78.0e0f0a0b.partial"
    for leftover in (old, young):
        leftover.write_text("x")
    os.utime(old, (1, 1))  # a killed gateway's: it goes; a live publish's (young) stays
    pub = publisher(sshd, remote)
    image = pull_image(PullRequest(images["busybox"]), cache_dir=tmp_path / "cache", expand_dir=tmp_path / "exp",
                       image_dir=pub)
    assert image.id == build("busybox").image_id
    assert young.exists() and not old.exists()
    young.unlink()
    assert sorted(p.name for p in remote.iterdir()) == sorted([f"{image.id}.squashfs", f"{image.id}.meta"])
    assert (remote / f"{image.id}.squashfs").stat().st_mode & 0o777 == 0o644
    assert (remote / f"{image.id}.meta").read_text().startswith("FORMAT: squashfs\n")
    again = pull_image(PullRequest(images["busybox"], user_acl=(4242,)), cache_dir=tmp_path / "cache",
                       expand_dir=tmp_path / "exp", image_dir=pub)
    assert again.meta_only and "USERACL: 4242" in (remote / f"{image.id}.meta").read_text()
    assert (remote / f"{image.id}.meta").stat().st_mode & 0o777 == 0o640
    pub.remove(image.id)
    assert list(remote.iterdir()) == [] and list((tmp_path / "exp").iterdir()) == []


def test_remote_failure_is_clean(images, sshd, tmp_path):
    pub = publisher(sshd, tmp_path / "does-not-exist")
    with pytest.raises(PullError, match=r"busybox:latest: copying [0-9a-f]{64}\.squashfs on 127\.0\.0\.1: "):
        pull_image(PullRequest(images["busybox"]), cache_dir=tmp_path / "cache", expand_dir=tmp_path / "exp",
                   image_dir=pub)
    assert list((tmp_path / "exp").iterdir()) == []
