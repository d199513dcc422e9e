"""pull_image against the test bed's real registries; images checked by unpacking the squashfs."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from faultproxy import FaultProxy

from shifter_imagegw.pipeline import PullError, PullRequest, pull_image
from testbed.flatten import describe_tree
from testbed.images import EXPECTED_TRICKY, EXPECTED_TRICKY_HARDLINKS, build

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path):
    return SimpleNamespace(cache=tmp_path / "cache", expand=tmp_path / "expand", images=tmp_path / "images",
                           tmp=tmp_path)


def pull(ref: str, dirs, *, progress=None, **kw):
    opts = {k: kw.pop(k) for k in ("locations", "default_location", "converter_options", "timeout",
                                   "retries", "backoff", "examiner") if k in kw}
    opts.setdefault("backoff", 0.05)
    return pull_image(PullRequest(ref, **kw), cache_dir=dirs.cache, expand_dir=dirs.expand,
                      image_dir=dirs.images, progress=progress, **opts)


def unpack(squashfs: Path, dest: Path) -> tuple[dict, list]:
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(dest), str(squashfs)], check=True,
                   stdout=subprocess.DEVNULL)
    return describe_tree(dest)


def upstream_modes(tree: dict) -> dict:
    """The test bed's layer-exact tree after upstream's ``chmod a+rX,u+w`` (our converter's rule)."""
    out = {}
    for path, entry in tree.items():
        if entry[0] == "dir":
            out[path] = ("dir", entry[1] | 0o755)
        elif entry[0] == "file":
            mode = entry[1] | 0o644 | (0o111 if entry[1] & 0o111 else 0)
            out[path] = ("file", mode, entry[2])
        else:
            out[path] = entry
    return out


def assert_clean(dirs) -> None:
    """No temporary file left in the expand, cache-tmp or image directories."""
    assert list(dirs.expand.iterdir()) == [] if dirs.expand.exists() else True
    if (dirs.cache / "tmp").exists():
        assert [p.name for p in (dirs.cache / "tmp").iterdir() if not p.name.endswith(".lock")] == []
    if dirs.images.exists():
        assert [p.name for p in dirs.images.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", ["busybox", "busybox-oci"])
def test_pull_v2s2_and_oci(images, dirs, name):
    statuses = []
    image = pull(images[name], dirs, progress=lambda s, done, total: statuses.append(s))
    assert image.id == build(name).image_id
    assert image.squashfs == dirs.images / f"{image.id}.squashfs"
    assert (image.squashfs.stat().st_mode & 0o777, image.meta_path.stat().st_mode & 0o777) == (0o644, 0o644)
    assert image.meta_path.read_text().startswith("FORMAT: squashfs\nCMD: ['/bin/sh']\nWORKDIR: /\nENV: PATH=")
    assert [s for i, s in enumerate(statuses) if s not in statuses[:i]] == [
        "PULLING", "EXAMINATION", "CONVERSION", "TRANSFER"]
    tree, _ = unpack(image.squashfs, dirs.tmp / "root")
    assert tree["bin/busybox"][0] == "file" and tree["bin/sh"] == ("symlink", "/bin/busybox")
    info = subprocess.run(["unsquashfs", "-s", str(image.squashfs)], capture_output=True, text=True).stdout
    assert "Compression zstd" in info and "Block size 131072" in info
    assert os.listxattr(dirs.tmp / "root" / "bin") == ["trusted.shifter.dirindex"]   # > 64 applets
    assert_clean(dirs)


def test_tricky_layers_flatten_exactly(images, dirs):
    image = pull(images["tricky"], dirs)
    tree, hardlinks = unpack(image.squashfs, dirs.tmp / "root")
    assert tree == upstream_modes(EXPECTED_TRICKY)
    assert hardlinks == EXPECTED_TRICKY_HARDLINKS


def test_multiarch_selects_the_platform(images, dirs):
    amd = pull(images["multiarch"], dirs)
    arm = pull(images["multiarch"], dirs, platform="linux/arm64")
    assert amd.id != arm.id
    amd_tree, _ = unpack(amd.squashfs, dirs.tmp / "amd")
    arm_tree, _ = unpack(arm.squashfs, dirs.tmp / "arm")
    assert "bin/busybox" in amd_tree and set(arm_tree) == {"arch"}
    assert (dirs.tmp / "arm" / "arch").read_text() == "arm64\n"
    with pytest.raises(PullError, match=r"127.0.0.1:5000/test/multiarch:latest: no manifest for platform "
                                        r"linux/s390x \(offered: linux/amd64, linux/arm64\)"):
        pull(images["multiarch"], dirs, platform="linux/s390x")


def test_same_content_same_id_and_second_pull_is_meta_only(images, dirs):
    first = pull(images["busybox"], dirs)
    stamp = first.squashfs.stat().st_mtime_ns
    second = pull(images["busybox"], dirs, user_acl=(os.getuid(),))
    assert second.id == first.id and second.meta_only and second.bytes_downloaded == 0
    assert first.squashfs.stat().st_mtime_ns == stamp
    assert "USERACL: 0" in second.meta_path.read_text()


def test_pull_by_digest(images, dirs):
    digest = build("busybox").digest
    image = pull(images["busybox"].rsplit(":", 1)[0] + "@" + digest, dirs)
    assert image.id == digest.split(":")[1]


def test_missing_image_and_tag_fail_cleanly(images, registry, dirs):
    with pytest.raises(PullError, match=r"^127.0.0.1:5000/test/busybox:nope: manifest nope not found"):
        pull(f"{registry.host}/test/busybox:nope", dirs)
    with pytest.raises(PullError, match="not found"):
        pull(f"{registry.host}/test/absent:latest", dirs)
    assert not dirs.images.exists() or list(dirs.images.iterdir()) == []


def test_concurrent_pulls_share_the_cache(images, dirs):
    results, errors = [], []

    def one(i):
        sub = SimpleNamespace(cache=dirs.cache, expand=dirs.tmp / f"exp{i}", images=dirs.images, tmp=dirs.tmp)
        try:
            results.append(pull(images["tricky"], sub).id)
        except Exception as err:   # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    blobs = list((dirs.cache / "blobs" / "sha256").iterdir())
    assert len(blobs) == len(build("tricky").layers)
    assert sorted(p.name for p in dirs.images.iterdir()) == sorted(f"{results[0]}.{e}" for e in ("meta", "squashfs"))


# -- auth ---------------------------------------------------------------------------------------

def test_basic_auth_registry(images_auth, registry_auth, dirs):
    ref = images_auth["busybox"]
    with pytest.raises(PullError, match="authentication required"):
        pull(ref, dirs)
    with pytest.raises(PullError, match="credentials were refused"):
        pull(ref, dirs, credentials={"default": "labuser:wrong"})
    image = pull(ref, dirs, credentials={"default": f"{registry_auth.username}:{registry_auth.password}"})
    assert image.authenticated and image.id == build("busybox").image_id


def test_basic_auth_via_location_sends_credentials_up_front(images_auth, registry_auth, dirs):
    locs = {"lab": {"url": registry_auth.url, "authMethod": "basic"}}
    image = pull("lab/test/busybox:latest", dirs, locations=locs,
                 credentials={"lab": f"{registry_auth.username}:{registry_auth.password}"})
    images_auth["busybox"]
    assert image.authenticated


# -- faults -------------------------------------------------------------------------------------

@pytest.fixture
def proxy(registry, images):
    images["busybox"]
    px = FaultProxy(registry.url)
    yield px
    px.close()


def test_registry_500s_then_success(proxy, dirs):
    proxy.faults.fail = {"/manifests/": 2, "/blobs/": 3}
    image = pull(f"{proxy.host}/test/busybox:latest", dirs, retries=4)
    assert image.id == build("busybox").image_id
    assert proxy.faults.fail == {"/manifests/": 0, "/blobs/": 0}


def test_registry_keeps_failing_gives_up_cleanly(proxy, dirs):
    proxy.faults.fail = {"/blobs/": 100}
    with pytest.raises(PullError, match=r"HTTP 500 after 3 tries"):
        pull(f"{proxy.host}/test/busybox:latest", dirs, retries=2)
    assert_clean(dirs)


def test_timeouts_are_retried(proxy, dirs):
    proxy.faults.fail, proxy.faults.stall_s = {"/manifests/": 1}, 2.0
    image = pull(f"{proxy.host}/test/busybox:latest", dirs, timeout=0.5, retries=2)
    assert image.id == build("busybox").image_id


def test_corrupt_blob_rejected(proxy, dirs):
    proxy.faults.corrupt_blobs = True
    with pytest.raises(PullError, match=r"blob sha256:[0-9a-f]{64}: digest mismatch"):
        pull(f"{proxy.host}/test/busybox:latest", dirs)
    assert not (dirs.cache / "blobs").exists() or list((dirs.cache / "blobs" / "sha256").iterdir()) == []
    assert_clean(dirs)


def test_redirect_to_another_host_does_not_leak_credentials(proxy, dirs):
    proxy.faults.redirect_blobs = True
    locs = {"px": {"url": f"http://{proxy.host}", "authMethod": "basic"}}
    image = pull("px/test/busybox:latest", dirs, locations=locs, credentials={"px": "someone:secret"})
    assert image.id == build("busybox").image_id
    front = [auth for who, _, auth in proxy.faults.seen if who == "front"]
    store = [(path, auth) for who, path, auth in proxy.faults.seen if who == "blobstore"]
    assert front and all(a and a.startswith("Basic ") for a in front)
    assert store and all(auth is None for _, auth in store)


def test_proxy_from_environment(proxy, dirs, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://{proxy.host}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    locs = {"far": {"url": "http://registry.invalid"}}       # resolvable only through the proxy
    image = pull("far/test/busybox:latest", dirs, locations=locs)
    assert image.id == build("busybox").image_id and proxy.faults.proxied >= 3


# -- failures leave nothing -----------------------------------------------------------------------

def test_full_expand_directory_fails_cleanly(images, dirs):
    images["tricky"]
    dirs.expand.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(dirs.expand)], check=True)
    try:
        with pytest.raises(PullError, match=r"test/tricky:latest: .*(No space left|tar2sqfs failed)"):
            pull(images["tricky"], dirs)
        assert list(dirs.expand.iterdir()) == []
        assert not dirs.images.exists() or list(dirs.images.iterdir()) == []
    finally:
        subprocess.run(["umount", str(dirs.expand)], check=True)


def test_private_image_readable_only_by_acl(images, dirs, test_users):
    alice, bob = test_users[0], test_users[1]
    shared = Path(tempfile.mkdtemp(prefix="gwpipe-images."))     # pytest's tmp_path is 0700 root
    shared.chmod(0o755)
    dirs.images = shared
    try:
        _check_private(images, dirs, alice, bob)
    finally:
        shutil.rmtree(shared)


def _check_private(images, dirs, alice, bob):
    image = pull(images["busybox"], dirs, user_acl=(alice.uid,), group_acl=())
    assert image.squashfs.stat().st_mode & 0o777 == 0o640
    acl = subprocess.run(["getfacl", "-cn", str(image.squashfs)], capture_output=True, text=True).stdout
    assert f"user:{alice.uid}:r--" in acl and "other::---" in acl

    def can_read(user) -> bool:
        return subprocess.run(["runuser", "-u", user.name, "--", "head", "-c1", str(image.squashfs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    assert can_read(alice) and not can_read(bob)
    public = pull(images["busybox"], dirs)                  # ACL change: metadata only, now public
    assert public.meta_only and image.squashfs.stat().st_mode & 0o777 == 0o644 and can_read(bob)

