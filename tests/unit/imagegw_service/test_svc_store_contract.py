"""One contract, two catalogues: every test runs on SQLite and on MongoDB.

MongoDB runs on mongomock because no MongoDB server can be installed on this
machine (not in Debian 12; PyPI wrappers download mongod at run time).
"""
import threading

import mongomock
import pytest

from shifter_imagegw.store import ImageRecord, MetricRecord
from shifter_imagegw.store.mongo import MongoStore
from shifter_imagegw.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit


@pytest.fixture(params=["sqlite", "mongo"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteStore(str(tmp_path / "cat" / "images.sqlite"))
    else:
        s = MongoStore(mongomock.MongoClient()["Shifter"])
    yield s
    s.close()


def rec(tag="ubuntu:22.04", **kw):
    kw.setdefault("status", "READY")
    return ImageRecord(system="lab", itype="docker", pulltag=tag, **kw)


def test_insert_get_roundtrip_keeps_every_field(store):
    r = rec(id="abc", ENV=["A=1"], ENTRY=["/bin/sh"],
            LABELS={"k": "v"}, userACL=[1, 2])
    ident = store.insert(r)
    got = store.get(ident)
    assert got.ident == ident and got.id == "abc" and got.ENV == ["A=1"]
    assert got.ENTRY == ["/bin/sh"] and got.LABELS == {"k": "v"} and got.userACL == [1, 2]
    assert got.status == "READY" and got.tag == []


def test_get_unknown_returns_none(store):
    ident = store.insert(rec())
    store.delete(ident)
    assert store.get(ident) is None


def test_tag_moves_between_records_of_one_system(store):
    a = store.insert(rec(id="a"))
    b = store.insert(rec(id="b"))
    other = store.insert(ImageRecord(system="other", itype="docker", pulltag="x", id="c"))
    store.add_tag(a, "lab", "ubuntu:latest")
    store.add_tag(other, "other", "ubuntu:latest")
    store.add_tag(b, "lab", "ubuntu:latest")
    assert store.get(a).tag == []
    assert store.get(b).tag == ["ubuntu:latest"]
    assert store.get(other).tag == ["ubuntu:latest"], "another system keeps its own tag"
    assert [r.id for r in store.find(system="lab", tag="ubuntu:latest")] == ["b"]


def test_find_filters_equality_status_in_and_order(store):
    store.insert(rec("one", id="1"))
    store.insert(rec("two", id="2", status="PENDING"))
    store.insert(rec("three", id="3", status="FAILURE"))
    assert [r.id for r in store.find(system="lab")] == ["1", "2", "3"]
    assert [r.id for r in store.find(system="lab", status="READY")] == ["1"]
    assert [r.id for r in store.find(status_in=("PENDING", "FAILURE"))] == ["2", "3"]
    assert [r.id for r in store.find(pulltag="two", itype="docker")] == ["2"]
    assert store.find(system="nope") == []


def test_update_sets_fields_and_tags(store):
    ident = store.insert(rec(status="PENDING"))
    assert store.update(ident, {"status": "READY", "id": "x", "tag": ["t1", "t2"]})
    got = store.get(ident)
    assert (got.status, got.id, got.tag) == ("READY", "x", ["t1", "t2"])
    assert store.find(status="READY", id="x")[0].ident == ident


def test_update_compare_and_set_only_once(store):
    ident = store.insert(rec(status="PENDING"))
    assert store.update(ident, {"status": "PULLING"}, expect={"status": "PENDING"})
    assert not store.update(ident, {"status": "PULLING"}, expect={"status": "PENDING"})
    assert store.get(ident).status == "PULLING"


def test_update_rejects_unknown_field(store):
    ident = store.insert(rec())
    with pytest.raises(KeyError, match="bogus"):
        store.update(ident, {"bogus": 1})


def test_exclusive_serialises_threads(store):
    counter = {"n": 0, "max": 0, "inside": 0}
    lock = threading.Lock()

    def work():
        for _ in range(5):
            with store.exclusive("pull:lab:docker:x"):
                with lock:
                    counter["inside"] += 1
                    counter["max"] = max(counter["max"], counter["inside"])
                store.insert(rec())
                with lock:
                    counter["inside"] -= 1
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter["max"] == 1
    assert len(store.find(system="lab")) == 20


def test_metrics_last_n_in_order(store):
    for i in range(30):
        store.add_metric(MetricRecord("alice", 1000, "lab", "docker", f"t{i}", "id", float(i)))
    store.add_metric(MetricRecord("bob", 1001, "other", "docker", "z", "id", 99.0))
    got = store.metrics("lab", 20)
    assert [m.tag for m in got] == [f"t{i}" for i in range(10, 30)]
    assert store.metrics("lab", 0) == []


def test_sqlite_survives_reopen(tmp_path):
    path = str(tmp_path / "images.sqlite")
    s = SQLiteStore(path)
    ident = s.insert(rec(id="persist"))
    s.add_tag(ident, "lab", "keep:1")
    s.close()
    s2 = SQLiteStore(path)
    assert s2.get(ident).tag == ["keep:1"]
    assert s2._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s2.close()
