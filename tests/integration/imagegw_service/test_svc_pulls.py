"""Pull lifecycle under load and failure: one download for 200 clients, registry
500s, and a gateway killed in the middle of a pull."""
import os
import threading
import time

import pytest
import requests

from gwtest import munge_cred

pytestmark = pytest.mark.integration

BUSYBOX = "test%2Fbusybox%3Alatest"
DEBIAN = "test%2Fdebian%3Abookworm"


def published(gw):
    return sorted(os.listdir(gw.root / "images"))


def test_200_concurrent_pulls_one_download(gateway_factory, registry_proxy, images):
    images["busybox"]
    gw = gateway_factory(registry_url=registry_proxy.url)
    creds = [munge_cred() for _ in range(20)]  # a few authenticated clients among anonymous ones
    results, errors = [], []
    barrier = threading.Barrier(50)

    def client(i):
        session = requests.Session()
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        for j in range(4):
            n = i * 4 + j
            headers = {"authentication": creds[n]} if n < len(creds) else {}
            try:
                resp = session.post(gw.url + f"/api/pull/lab/docker/{BUSYBOX}/", headers=headers,
                                    timeout=60)
                results.append((resp.status_code, resp.json().get("status")))
            except Exception as exc:  # report all at the end
                errors.append(repr(exc))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 200, (errors[:2], gw.log()[-3000:])
    assert {code for code, _ in results} == {200}
    rec = gw.wait_status("docker", BUSYBOX)
    assert rec["status"] == "READY", rec
    assert registry_proxy.blob_gets, "the pull went through the proxy"
    assert max(registry_proxy.blob_gets.values()) == 1, registry_proxy.blob_gets
    records = gw.get("/api/list/lab/").json()["list"]
    assert len(records) == 1 and published(gw) == [f"{rec['id']}.meta", f"{rec['id']}.squashfs"]


def test_registry_500_ends_in_failure_with_reason(gateway_factory, registry_proxy, images):
    images["busybox"]
    registry_proxy.fail_status = 500
    gw = gateway_factory(registry_url=registry_proxy.url)
    rec = gw.wait_status("docker", BUSYBOX, timeout=90)
    assert rec["status"] == "FAILURE", rec
    assert "HTTP 500" in rec["status_message"], rec
    assert published(gw) == []
    # still FAILURE for the next clients (no retry storm) until PullUpdateTimeout
    assert gw.post(f"/api/pull/lab/docker/{BUSYBOX}/").json()["status"] == "FAILURE"


def test_gateway_killed_mid_pull_resumes_cleanly(gateway_factory, registry_proxy, images):
    images["debian"]
    registry_proxy.delay_per_chunk = 0.02  # ~3 MB/s: the pull takes a while
    gw = gateway_factory(registry_url=registry_proxy.url, extra={"HeartbeatTimeout": 3})
    gw.post(f"/api/pull/lab/docker/{DEBIAN}/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rec = gw.post(f"/api/pull/lab/docker/{DEBIAN}/").json()
        if rec["status"] == "PULLING" and rec["progress"]["bytes_done"] > 0:
            break
        time.sleep(0.2)
    assert rec["status"] == "PULLING" and rec["progress"]["bytes_total"] > 0, rec
    gw.kill()
    assert [p for p in published(gw) if not p.startswith(".")] == []
    registry_proxy.delay_per_chunk = 0.0
    gw.start()
    queue = gw.get("/api/queue/lab/", user=None).json()["list"]
    assert queue and queue[0]["image"] == "test/debian:bookworm"
    rec = gw.wait_status("docker", DEBIAN, timeout=240)
    assert rec["status"] == "READY", rec
    assert published(gw) == [f"{rec['id']}.meta", f"{rec['id']}.squashfs"]
    assert not list((gw.root / "state" / "expand").iterdir()), "no leftovers in ExpandDirectory"
