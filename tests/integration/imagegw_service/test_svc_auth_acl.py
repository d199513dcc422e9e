"""Munge authentication and private-image visibility on a real gateway."""
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from gwtest import munge_cred

pytestmark = pytest.mark.integration

OCI = "test%2Fbusybox%3Aoci"


def readable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can open ``path`` (the kernel's answer, POSIX ACLs included)."""
    return subprocess.run(["runuser", "-u", user, "--", "head", "-c", "4", str(path)],
                          capture_output=True).returncode == 0


def lookup(gw, cred):
    headers = {"authentication": cred} if cred else {}
    return requests.get(gw.url + f"/api/lookup/lab/docker/{OCI}/", headers=headers, timeout=10)


def test_private_image_invisible_to_others(gateway, images, test_users):
    images["busybox-oci"]
    owner, other = test_users[0], test_users[1]
    rec = gateway.wait_status("docker", OCI, user=owner.name,
                              body={"allowed_uids": str(owner.uid)})
    assert rec["status"] == "READY", rec
    assert rec["userACL"] == [owner.uid] and rec["groupACL"] == []
    squash = gateway.root / "images" / f"{rec['id']}.squashfs"
    assert not squash.stat().st_mode & 0o004, "private image not world readable"
    for published in (squash, squash.with_suffix(".meta")):
        assert readable_by(owner.name, published), f"{published}: the ACL user must read it"
        assert not readable_by(other.name, published), f"{published}: readable by another user"

    assert gateway.get(f"/api/lookup/lab/docker/{OCI}/", user=owner.name).json()["id"] == rec["id"]
    for who in (other.name, None):
        resp = gateway.get(f"/api/lookup/lab/docker/{OCI}/", user=who)
        assert resp.status_code == 404, f"{who} must not see the private image"
        assert gateway.get("/api/list/lab/", user=who).json() == {"list": []}
    assert [r["id"] for r in gateway.get("/api/list/lab/", user=owner.name).json()["list"]] == \
        [rec["id"]]



def test_group_acl_grants_supplementary_group_members(gateway, images, test_users):
    images["multiarch"]
    owner, other = test_users[0], test_users[1]
    group = [g for g in owner.groups if g != owner.gid][0]  # shiftergrp: a supplementary group
    tag = "test%2Fmultiarch%3Alatest"
    rec = gateway.wait_status("docker", tag, user=other.name, body={"allowed_gids": str(group)})
    assert rec["status"] == "READY" and sorted(rec["groupACL"]) == sorted([group, other.gid])
    assert gateway.get(f"/api/lookup/lab/docker/{tag}/", user=owner.name).status_code == 200
    assert gateway.get(f"/api/lookup/lab/docker/{tag}/", user=other.name).status_code == 200
    assert gateway.get(f"/api/lookup/lab/docker/{tag}/", user=None).status_code == 404


def test_replayed_forged_expired_credentials_refused(gateway, test_users):
    cred = munge_cred(test_users[0].name)
    assert lookup(gateway, cred).status_code == 404, "valid credential: image simply unknown"
    replay = lookup(gateway, cred)
    assert replay.status_code == 401 and "Replayed" in replay.json()["error"]

    forged = cred[:20] + ("A" if cred[20] != "A" else "B") + cred[21:]
    resp = lookup(gateway, forged)
    assert resp.status_code == 401 and "Credential" in resp.json()["error"]
    assert lookup(gateway, "garbage").status_code == 401

    short = munge_cred(test_users[0].name, ttl=1)
    time.sleep(2.2)
    resp = lookup(gateway, short)
    assert resp.status_code == 401 and "Expired" in resp.json()["error"]


@pytest.fixture
def foreign_munged():
    """A second munged with its own key: another cluster's credentials."""
    root = Path(tempfile.mkdtemp(prefix="shifter-munge2-"))
    munge = pwd.getpwnam("munge")
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    for path in (root, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    key.chmod(0o400)
    root.chmod(0o755)
    sock, pid = root / "munge.sock", root / "munged.pid"
    subprocess.run(["munged", "--key-file", str(key), "--socket", str(sock), "--pid-file", str(pid),
                    "--log-file", str(root / "log"), "--seed-file", str(root / "seed")],
                   check=True, user=munge.pw_uid, group=munge.pw_gid, extra_groups=[])
    for _ in range(100):
        if sock.exists() and pid.exists():
            break
        time.sleep(0.05)
    yield str(sock)
    daemon = int(pid.read_text())
    os.kill(daemon, 15)
    for _ in range(100):
        try:
            os.kill(daemon, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)


def test_other_cluster_credentials_refused(gateway, foreign_munged, test_users):
    cred = munge_cred(test_users[0].name, socket_path=foreign_munged)
    resp = lookup(gateway, cred)
    assert resp.status_code == 401 and "Invalid Credential" in resp.json()["error"]


def test_registry_credentials_ride_in_the_payload(gateway_factory, registry_auth, images_auth,
                                                  test_users):
    gw = gateway_factory(extra={"Locations": {"authreg": {"url": registry_auth.url,
                                                          "authMethod": "basic"}}})

    def tag(name):
        return "authreg%2F" + images_auth[name].split("/", 1)[1].replace("/", "%2F") \
            .replace(":", "%3A")
    user = test_users[0].name
    rec = gw.wait_status("docker", tag("busybox-oci"), user=user, timeout=60)
    assert rec["status"] == "FAILURE", rec
    assert "authentication required" in rec["status_message"], rec

    payload = b'{"authorized_locations": {"authreg": "labuser:labpass"}}'
    deadline = time.monotonic() + 60
    while True:
        resp = requests.post(gw.url + f"/api/pull/lab/docker/{tag('busybox')}/", timeout=30,
                             headers={"authentication": munge_cred(user, payload=payload)})
        assert resp.status_code == 200, resp.text
        if resp.json()["status"] in ("READY", "FAILURE") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert resp.json()["status"] == "READY", resp.json()
