"""Manager rules (inventory §1.3-1.6), on both catalogues."""
import mongomock
import pytest

from shifter_imagegw.auth import Session
from shifter_imagegw.config import parse_config
from shifter_imagegw.manager import (ImageManager, ManagerError, PullOutcome, acl_changed,
                                     can_read, normalize_tag, parse_id_list, pullable, response,
                                     with_requester)
from shifter_imagegw.store import ImageRecord
from shifter_imagegw.store.mongo import MongoStore
from shifter_imagegw.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

ALICE = Session("lab", "alice", 1000, 1000, "alice")
BOB = Session("lab", "bob", 1001, 1001, "bob")
ROOT = Session("lab", "root", 0, 0, "root")
ANON = Session("lab")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def cfg(**extra):
    doc = {"Platforms": {"lab": {"accesstype": "local", "local": {"imageDir": "/images"},
                                 "admins": ["root"]},
                         "other": {"accesstype": "local", "local": {"imageDir": "/o"}}},
           "PullUpdateTimeout": 300, "ImageExpirationTimeout": "1:00:00:00", "Metrics": True,
           "ImportUsers": ["alice"]}
    doc.update(extra)
    return parse_config(doc)


@pytest.fixture(params=["sqlite", "mongo"])
def mgr(request, tmp_path):
    store = (SQLiteStore(str(tmp_path / "c.sqlite")) if request.param == "sqlite"
             else MongoStore(mongomock.MongoClient()["Shifter"]))
    yield ImageManager(cfg(), store, None, clock=Clock())
    store.close()


def finish(mgr, rec, image_id="img1", **kw):
    return mgr.complete(rec.ident, PullOutcome(id=image_id, ENV=["A=1"], ENTRY=["/bin/sh"],
                                               WORKDIR="/w", **kw))


# -- pure rules ---------------------------------------------------------------------
@pytest.mark.parametrize("itype, tag, want", [
    ("docker", "ubuntu", "ubuntu:latest"),
    ("docker", "ubuntu:22.04", "ubuntu:22.04"),
    ("docker", "127.0.0.1:5000/test/busybox", "127.0.0.1:5000/test/busybox:latest"),
    ("docker", "repo@sha256:" + "a" * 64, "repo@sha256:" + "a" * 64),
    ("custom", "thing", "thing:latest")])
def test_normalize_tag(itype, tag, want):
    assert normalize_tag(itype, tag) == want


def test_parse_id_list():
    assert parse_id_list("1, 2,3", "allowed_uids") == [1, 2, 3]
    assert parse_id_list("", "x") == [] and parse_id_list(None, "x") == []
    with pytest.raises(ManagerError, match="allowed_gids"):
        parse_id_list("a,b", "allowed_gids")


def test_requester_added_only_to_non_empty_acl():
    assert with_requester([5], 1000) == [5, 1000]
    assert with_requester([], 1000) == []
    assert with_requester([1000], 1000) == [1000]


def test_acl_change_is_order_insensitive():
    rec = ImageRecord("lab", "docker", "t", userACL=[1, 2], groupACL=[3])
    assert not acl_changed(rec, [2, 1], [3])
    assert acl_changed(rec, [1], [3]) and acl_changed(None, [], [])


def test_can_read_matrix():
    public = ImageRecord("lab", "docker", "t", private=False, userACL=[1])
    private = ImageRecord("lab", "docker", "t", private=True, userACL=[1000], groupACL=[])
    by_group = ImageRecord("lab", "docker", "t", private=True, userACL=[], groupACL=[1001])
    assert can_read(ANON, public) and can_read(BOB, public)
    assert can_read(ALICE, private) and not can_read(BOB, private) and not can_read(ANON, private)
    assert can_read(BOB, by_group) and not can_read(ALICE, by_group)


def test_pullable_matrix():
    now = 10_000.0
    assert pullable(None, now, 300)
    assert pullable(ImageRecord("s", "d", "t", status="EXPIRED", last_pull=now), now, 300)
    assert not pullable(ImageRecord("s", "d", "t", status="READY", last_pull=now - 10), now, 300)
    assert pullable(ImageRecord("s", "d", "t", status="READY", last_pull=now - 301), now, 300)
    assert pullable(ImageRecord("s", "d", "t", status="FAILURE", last_pull=now - 301), now, 300)
    busy = ImageRecord("s", "d", "t", status="PULLING", last_pull=now - 5000,
                       last_heartbeat=now - 10)
    assert not pullable(busy, now, 300)
    busy.last_heartbeat = now - 3601
    assert pullable(busy, now, 300)


def test_response_has_exactly_upstream_keys():
    out = response(ImageRecord("lab", "docker", "t", status="PENDING"))
    assert list(out) == ["id", "system", "itype", "tag", "status", "userACL", "groupACL", "ENV",
                         "ENTRY", "WORKDIR", "LABELS", "last_pull", "status_message"]
    assert out["id"] == "MISSING" and out["tag"] == [] and out["ENV"] == "MISSING"


# -- manager on a catalogue ---------------------------------------------------------
def test_concurrent_pull_requests_share_one_record(mgr):
    first = mgr.pull(ALICE, "lab", "docker", "ubuntu")
    again = mgr.pull(BOB, "lab", "docker", "ubuntu:latest")
    assert first.status == "PENDING" and again.ident == first.ident
    assert len(mgr.store.find(system="lab")) == 1


def test_pull_complete_lookup_and_list(mgr):
    rec = mgr.pull(ALICE, "lab", "docker", "ubuntu")
    done = finish(mgr, rec)
    assert done.status == "READY" and done.tag == ["ubuntu:latest"] and done.id == "img1"
    found = mgr.lookup(ANON, "lab", "docker", "ubuntu")
    assert found.id == "img1" and found.ENV == ["A=1"] and found.WORKDIR == "/w"
    assert [r.id for r in mgr.imglist(BOB, "lab")] == ["img1"]
    assert mgr.lookup(ANON, "lab", "docker", "other") is None


def test_one_record_per_image_id_tags_move(mgr):
    a = mgr.pull(ALICE, "lab", "docker", "ubuntu:a")
    finish(mgr, a, "same")
    b = mgr.pull(ALICE, "lab", "docker", "ubuntu:b")
    merged = finish(mgr, b, "same")
    assert merged.ident == a.ident and sorted(merged.tag) == ["ubuntu:a", "ubuntu:b"]
    assert len(mgr.store.find(system="lab")) == 1
    mgr.clock.now += 400
    c = mgr.pull(ALICE, "lab", "docker", "ubuntu:a")
    moved = finish(mgr, c, "newer")
    assert moved.tag == ["ubuntu:a"]
    assert mgr.store.get(a.ident).tag == ["ubuntu:b"]
    assert mgr.lookup(ANON, "lab", "docker", "ubuntu:a").id == "newer"


def test_ready_image_not_repulled_until_update_timeout(mgr):
    rec = mgr.pull(ALICE, "lab", "docker", "ubuntu")
    finish(mgr, rec)
    mgr.clock.now += 100
    assert mgr.pull(ALICE, "lab", "docker", "ubuntu").status == "READY"
    mgr.clock.now += 250
    again = mgr.pull(ALICE, "lab", "docker", "ubuntu")
    assert again.status == "PENDING" and again.ident != rec.ident


def test_pull_update_timeout_key_is_honoured(tmp_path):
    store = SQLiteStore(str(tmp_path / "c.sqlite"))
    mgr = ImageManager(cfg(PullUpdateTimeout=5), store, None, clock=Clock())
    finish(mgr, mgr.pull(ALICE, "lab", "docker", "x"))
    mgr.clock.now += 11
    assert mgr.pull(ALICE, "lab", "docker", "x").status == "PENDING"


def test_acl_change_is_a_new_metadata_pull_then_same_record(mgr):
    rec = mgr.pull(ALICE, "lab", "docker", "priv", user_acl=[1002])
    assert rec.userACL == [1002, 1000] and rec.private is True
    finish(mgr, rec, "pid")
    assert mgr.lookup(BOB, "lab", "docker", "priv") is None
    assert mgr.lookup(ALICE, "lab", "docker", "priv").id == "pid"
    assert mgr.imglist(BOB, "lab") == []
    mgr.clock.now += 20
    same = mgr.pull(ALICE, "lab", "docker", "priv", user_acl=[1000, 1002])
    assert same.status == "READY", "reordered ACL is not a change"
    widened = mgr.pull(ALICE, "lab", "docker", "priv", user_acl=[1001])
    assert widened.status == "PENDING"
    merged = finish(mgr, widened, "pid", meta_only=True)
    assert merged.ident == rec.ident and sorted(merged.userACL) == [1000, 1001]
    assert mgr.lookup(BOB, "lab", "docker", "priv").id == "pid"


def test_public_pull_drops_acls(mgr):
    done = finish(mgr, mgr.pull(ALICE, "lab", "docker", "pub"))
    assert done.userACL == [] and done.groupACL == [] and done.private is False


def test_failure_retried_after_timeout_only(mgr):
    rec = mgr.pull(ALICE, "lab", "docker", "bad")
    mgr.store.update(rec.ident, {"status": "FAILURE", "status_message": "boom"})
    assert mgr.pull(ALICE, "lab", "docker", "bad").status == "FAILURE"
    mgr.clock.now += 301
    assert mgr.pull(ALICE, "lab", "docker", "bad").status == "PENDING"


def test_lookup_resets_expiration_and_records_metrics(mgr):
    rec = finish(mgr, mgr.pull(ALICE, "lab", "docker", "u"))
    mgr.clock.now += 3600
    mgr.lookup(ALICE, "lab", "docker", "u")
    assert mgr.store.get(rec.ident).expiration == mgr.clock.now + 86400
    assert [m["tag"] for m in mgr.metrics(ROOT, "lab", 10)] == ["u:latest"]
    assert mgr.metrics(ALICE, "lab", 10) == [], "metrics are admin only"


def test_admin_only_expire_and_autoexpire(mgr):
    rec = finish(mgr, mgr.pull(ALICE, "lab", "docker", "u"))
    assert mgr.expire(ALICE, "lab", "docker", "u") is False
    assert mgr.autoexpire(ALICE, "lab") is False
    assert mgr.expire(ROOT, "lab", "docker", "nothing") is None
    mgr.pull(ALICE, "lab", "docker", "running")
    assert mgr.expire(ROOT, "lab", "docker", "running") is None, "in-flight pull left alone"
    assert mgr.expire(ROOT, "lab", "docker", "u") is True
    assert mgr.store.get(rec.ident).status == "EXPIRING"


def test_autoexpire_expired_and_stale(mgr):
    old = finish(mgr, mgr.pull(ALICE, "lab", "docker", "old"), "oldid")
    mgr.lookup(ALICE, "lab", "docker", "old")
    stuck = mgr.pull(ALICE, "lab", "docker", "stuck")
    mgr.store.update(stuck.ident, {"status": "FAILURE"})
    mgr.clock.now += 86400 + 10
    fresh = finish(mgr, mgr.pull(ALICE, "lab", "docker", "fresh"), "freshid")
    mgr.lookup(ALICE, "lab", "docker", "fresh")
    assert mgr.autoexpire(ROOT, "lab") == ["oldid"]
    assert mgr.store.get(old.ident).status == "EXPIRING"
    assert mgr.store.get(stuck.ident) is None
    assert mgr.store.get(fresh.ident).status == "READY"


def test_queue_lists_unfinished(mgr):
    finish(mgr, mgr.pull(ALICE, "lab", "docker", "done"))
    mgr.pull(ALICE, "lab", "docker", "busy")
    assert mgr.queue("lab") == [{"status": "PENDING", "image": "busy:latest"}]


def test_invalid_system_and_type(mgr):
    with pytest.raises(ManagerError) as err:
        mgr.imglist(ALICE, "nope")
    assert err.value.http == 404
    with pytest.raises(ManagerError, match="image type"):
        mgr.pull(ALICE, "lab", "id", "abc")


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "x.sqsh"
    path.write_bytes(b"hsqs")
    return str(path)


def test_import_needs_import_users(mgr, src):
    with pytest.raises(ManagerError) as err:
        mgr.doimport(BOB, "lab", "custom", "x", src, "squashfs")
    assert err.value.http == 403
    rec = mgr.doimport(ALICE, "lab", "custom", "x", src, "squashfs")
    assert rec.status == "PENDING" and rec.filepath == src


@pytest.mark.parametrize("fmt", ["squashfs", "docker-archive", "oci"])
def test_import_format_is_kept_for_recovery_until_ready(mgr, fmt, src):
    rec = mgr.doimport(ALICE, "lab", "custom", "x", src, fmt)
    assert mgr.store.get(rec.ident).format == fmt          # a resumed import reads it
    assert finish(mgr, rec).format == "squashfs"           # then it names the published file


def test_import_refuses_other_formats(mgr):
    for fmt in ("tar", "SQUASHFS", "docker"):
        with pytest.raises(ManagerError, match=f"format: unsupported import format '{fmt}' "
                                               r"\(expected squashfs, docker-archive, oci\)") as err:
            mgr.doimport(ALICE, "lab", "custom", "x", "/tmp/x", fmt)
        assert err.value.http == 400
    assert mgr.store.find(system="lab") == []
