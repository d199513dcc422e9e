"""Hostile requests in-process: every refusal is a 4xx JSON answer naming the problem, made
before anything reaches the catalogue; private records of other users are not handed out;
an import source that is a fifo cannot hang a worker."""
import os
import threading

import pytest

from shifter_imagegw.api import MAX_BODY, create_app
from shifter_imagegw.auth import Session
from shifter_imagegw.config import parse_config
from shifter_imagegw.importformats import source_problem
from shifter_imagegw.manager import ImageManager, ManagerError
from shifter_imagegw.pipeline import PullError
from shifter_imagegw.store import ImageRecord
from shifter_imagegw.store.sqlite import SQLiteStore
from shifter_imagegw.workers import WorkerPool

pytestmark = pytest.mark.unit

ALICE = Session("lab", "alice", 1000, 1000, "alice")
BOB = Session("lab", "bob", 1001, 1001, "bob")


@pytest.fixture
def cfg(tmp_path):
    return parse_config({"Platforms": {"lab": {"local": {"imageDir": str(tmp_path / "img")}}},
                         "CatalogPath": str(tmp_path / "c.sqlite"), "ImportUsers": ["alice"],
                         "ExpandDirectory": str(tmp_path / "expand")})


@pytest.fixture
def store(cfg):
    s = SQLiteStore(cfg.catalog_path)
    yield s
    s.close()


@pytest.fixture
def client(cfg, store):
    return create_app(cfg, store, workers=False).test_client()


def refused(resp, code: int, words: str) -> None:
    doc = resp.get_json()
    assert resp.status_code == code and doc["status"] == code, (resp.status_code, doc)
    assert words in doc["error"] and "\n" not in doc["error"], doc


@pytest.mark.parametrize("tag", ["%2E%2E%2F%2E%2E%2Fetc", "a%00b", "%FF%FE", "x%20y", "UPPER",
                                 "a:b:c", "%0A", "repo:" + "t" * 200, "r@sha256:12"])
def test_pull_of_an_invalid_reference_is_400_and_leaves_no_record(client, store, tag):
    refused(client.post(f"/api/pull/lab/docker/{tag}/"), 400, "invalid image reference")
    assert store.find(system="lab") == []


@pytest.mark.parametrize("ids", ["99999999999999999999", [2**32 - 1], "4294967296", [-1]])
def test_acl_ids_outside_uid_t_are_400(client, store, ids):
    refused(client.post("/api/pull/lab/docker/foo/", json={"allowed_gids": ids}), 400,
            "allowed_gids: ids must be between 0 and 4294967294")
    assert store.find(system="lab") == []


def test_huge_body_is_413_json(client, store):
    resp = client.post("/api/pull/lab/docker/foo/", data=b"{" + b" " * MAX_BODY + b"}")
    assert resp.status_code == 413 and resp.get_json()["status"] == 413
    assert store.find(system="lab") == []


@pytest.mark.parametrize("limit", ["999999999999999999999999", "%C2%B2", "100001", "9" * 5000])
def test_metrics_limit_out_of_range_is_400(client, limit):
    refused(client.get(f"/api/metrics/lab/?limit={limit}"), 400,
            "limit: expected an integer from 0 to 100000")


def test_import_sources_are_checked(tmp_path):
    fifo, empty, good = tmp_path / "fifo", tmp_path / "empty", tmp_path / "good"
    os.mkfifo(fifo)
    empty.touch()
    good.write_bytes(b"hsqs")
    os.symlink(good, tmp_path / "link")
    assert "must be an absolute path" in source_problem("rel/x.sqsh", "squashfs")
    assert "must be an absolute path" in source_problem("/a\0b", "squashfs")
    assert source_problem(str(fifo), "squashfs") == f"filepath: {fifo}: not a regular file"
    assert "not a regular file" in source_problem("/dev/zero", "docker-archive")
    assert "empty file" in source_problem("/proc/self/environ", "squashfs")
    assert "empty file" in source_problem(str(empty), "oci")
    assert "a directory, not a squashfs" in source_problem(str(tmp_path), "squashfs")
    assert "No such file" in source_problem(str(tmp_path / "none"), "squashfs")
    assert source_problem(str(tmp_path), "oci") is None
    assert source_problem(str(tmp_path), "docker-archive") is None
    assert source_problem(str(tmp_path / "link"), "squashfs") is None


def test_bad_import_is_400_after_import_users_and_leaves_no_record(cfg, store, tmp_path):
    mgr = ImageManager(cfg, store)
    with pytest.raises(ManagerError) as err:   # no filesystem probing for others
        mgr.doimport(BOB, "lab", "custom", "x", "/etc", "squashfs")
    assert err.value.http == 403
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ManagerError, match="not a regular file") as err:
        mgr.doimport(ALICE, "lab", "custom", "x", str(tmp_path / "fifo"), "squashfs")
    assert err.value.http == 400
    (tmp_path / "ok").write_bytes(b"hsqs")
    with pytest.raises(ManagerError, match="invalid image reference"):
        mgr.doimport(ALICE, "lab", "custom", "a b", str(tmp_path / "ok"), "squashfs")
    assert store.find(system="lab") == []


def test_fifo_swapped_in_after_the_request_does_not_hang_the_worker(cfg, store, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    rec = ImageRecord("lab", "custom", "x:latest", status="PULLING", format="squashfs",
                      filepath=str(tmp_path / "fifo"))
    pool = WorkerPool(cfg, store, threads=1)
    errors = []

    def run():
        try:
            pool._import_squashfs(rec, "alice")
        except PullError as exc:
            errors.append(str(exc))
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(5)
    pool.stop()
    assert not worker.is_alive() and errors == [f"{tmp_path / 'fifo'}: not a regular file"]


def test_private_pull_of_another_user_is_not_handed_out(cfg, store):
    mgr = ImageManager(cfg, store)
    ready = ImageRecord("lab", "docker", "priv:latest", status="READY", id="a" * 64,
                        userACL=[ALICE.uid], private=True, last_pull=mgr.clock())
    store.insert(ready)
    store.add_tag(ready.ident, "lab", "priv:latest")
    mine = mgr.pull(ALICE, "lab", "docker", "priv", [ALICE.uid])
    assert mine.ident == ready.ident                     # a recent pull is joined
    theirs = mgr.pull(BOB, "lab", "docker", "priv")
    assert theirs.ident != ready.ident and theirs.id is None and theirs.userACL == []
    store.delete(theirs.ident)
    pending = mgr.pull(ALICE, "lab", "docker", "other", [ALICE.uid])
    store.update(pending.ident, {"status": "PULLING"})
    with pytest.raises(ManagerError, match="private pull of this image by another user") as err:
        mgr.pull(BOB, "lab", "docker", "other")
    assert err.value.http == 409
    assert [r.ident for r in store.find(system="lab", pulltag="other:latest")] == [pending.ident]
