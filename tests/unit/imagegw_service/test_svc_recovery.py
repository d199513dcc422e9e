"""Recovery of jobs whose gateway process died (heartbeat stopped)."""
import os
import time
from pathlib import Path

import pytest

from shifter_imagegw.config import parse_config
from shifter_imagegw.store import ImageRecord
from shifter_imagegw.store.sqlite import SQLiteStore
from shifter_imagegw.workers import WorkerPool, fasthash

pytestmark = pytest.mark.unit


@pytest.fixture
def pool(tmp_path):
    cfg = parse_config({"Platforms": {"lab": {"local": {"imageDir": str(tmp_path)}}},
                        "CatalogPath": str(tmp_path / "c.sqlite"), "HeartbeatTimeout": 5})
    store = SQLiteStore(cfg.catalog_path)
    p = WorkerPool(cfg, store)
    yield p
    p.stop()
    store.close()


def add(pool, **kw):
    rec = ImageRecord("lab", "docker", kw.pop("tag", "t:1"), **kw)
    pool.store.insert(rec)
    return rec


def test_stale_credentialed_and_exhausted_jobs_fail_with_reason(pool):
    old = time.time() - 60
    cred = add(pool, tag="a:1", status="PULLING", last_heartbeat=old, credentialed=True)
    tired = add(pool, tag="b:1", status="CONVERSION", last_heartbeat=old, attempts=2)
    alive = add(pool, tag="c:1", status="PULLING", last_heartbeat=time.time())
    done = add(pool, tag="d:1", status="READY", last_heartbeat=old)
    assert pool.recover() == 2
    got = pool.store.get(cred.ident)
    assert got.status == "FAILURE"
    assert got.status_message == ("gateway stopped during PULLING; registry credentials are not "
                                  "kept: pull again")
    assert pool.store.get(tired.ident).status_message.startswith(
        "gateway stopped during CONVERSION; interrupted 3 times")
    assert pool.store.get(alive.ident).status == "PULLING"
    assert pool.store.get(done.ident).status == "READY"
    assert pool.recover() == 0, "a second sweep finds nothing"


def test_only_one_sweeper_wins(pool, tmp_path):
    other = WorkerPool(pool.config, SQLiteStore(pool.config.catalog_path))
    add(pool, status="PULLING", last_heartbeat=time.time() - 60, credentialed=True)
    assert pool.recover() + other.recover() == 1
    other.stop()


def test_interrupted_archive_import_resumes_with_its_format(pool, monkeypatch, tmp_path):
    from shifter_imagegw import pipeline
    from shifter_imagegw.manager import ImageManager
    from shifter_imagegw.metafile import ImageMeta
    calls = []

    def fake_import(path, **kw):
        calls.append((path, kw))
        kw["progress"]("CONVERSION", 1, 2)
        return pipeline.PulledImage("f" * 64, Path("/i.squashfs"), Path("/i.meta"),
                                    ImageMeta(env=["A=1"], cmd=["/bin/sh"], workdir="/w"))
    monkeypatch.setattr(pipeline, "import_archive", fake_import)
    pool.bind(ImageManager(pool.config, pool.store))
    rec = add(pool, tag="arch:1", status="CONVERSION", last_heartbeat=time.time() - 60,
              format="oci", filepath=str(tmp_path))
    assert pool.recover() == 1
    for _ in range(100):
        got = pool.store.get(rec.ident)
        if got.status == "READY":
            break
        time.sleep(0.05)
    assert (got.status, got.id, got.ENV, got.CMD, got.WORKDIR) == ("READY", "f" * 64, ["A=1"],
                                                                  ["/bin/sh"], "/w")
    [(path, kw)] = calls
    assert (path, kw["fmt"], kw["tag"], kw["strict_tag"]) == (str(tmp_path), "oci", "arch:1", False)
    assert (kw["expand_dir"], kw["image_dir"].image_dir) == (pool.config.expand_dir,
                                                           Path(pool.config.platforms["lab"].image_dir))


def _fasthash_of(path, **kw) -> str:
    with open(path, "rb") as fh:
        return fasthash(fh, **kw)


def test_fasthash_samples_every_stride(tmp_path):
    f = tmp_path / "img"
    f.write_bytes(b"a" * 3000 + b"b" * 3000)
    assert _fasthash_of(f, chunk=10, stride=3000) != _fasthash_of(f, chunk=10, stride=6000)
    f2 = tmp_path / "img2"
    f2.write_bytes(b"a" * 3000 + b"c" * 3000)
    assert _fasthash_of(f, chunk=10, stride=6000) == _fasthash_of(f2, chunk=10, stride=6000)


def test_sweep_leftovers_empties_scratch_and_old_partials_only(tmp_path):
    from shifter_imagegw.pipeline import sweep_leftovers
    from shifter_imagegw.publish import LocalPublisher
    scratch, images, outside = tmp_path / "expand", tmp_path / "images", tmp_path / "keep"
    for d in (scratch / "abc.x.convert" / "sub", scratch / "import.q1", images, outside):
        d.mkdir(parents=True)
    (scratch / "abc.meta").write_text("x")
    (scratch / "link").symlink_to(outside)
    ident = "ab" * 32
    publisher = LocalPublisher(images)                      # the names it really makes
    old_part = publisher._tmpname(images / f"{ident}.squashfs")
    new_part = publisher._tmpname(images / f"{ident}.meta")
    other = images / ".notes.partial"                       # not a name the publisher makes
    final = images / f"{ident}.squashfs"
    for path in (old_part, new_part, other, final):
        path.write_text("data")
    for path in (old_part, other, final):
        os.utime(path, (1, 1))
    gone = sweep_leftovers(scratch, [images, tmp_path / "missing"])
    assert sorted(gone) == sorted([scratch / "abc.x.convert", scratch / "import.q1",
                                   scratch / "abc.meta", scratch / "link", old_part])
    assert list(scratch.iterdir()) == [] and outside.is_dir()
    assert sorted(images.iterdir()) == sorted([new_part, other, final])
    assert sweep_leftovers(tmp_path / "nowhere") == []
