"""Every route of the gateway, as upstream clients see it (inventory §1.2)."""
import json
import os
import stat

import pytest
import requests

from gwtest import munge_cred

pytestmark = pytest.mark.integration

RECORD_KEYS = ["id", "system", "itype", "tag", "status", "userACL", "groupACL", "ENV", "ENTRY",
               "WORKDIR", "LABELS", "last_pull", "status_message"]
BUSYBOX = "test%2Fbusybox%3Alatest"


def assert_error(resp, code, words):
    assert resp.status_code == code, resp.text
    doc = resp.json()
    assert set(doc) == {"status", "error", "message"} and doc["status"] == code
    assert words in doc["error"], doc


def test_pull_lookup_list_queue_and_files(gateway, images, test_users):
    images["busybox"]  # pushed to the registry
    user = test_users[0].name
    first = gateway.post(f"/api/pull/lab/docker/{BUSYBOX}/", user=user)
    assert first.status_code == 200, first.text
    assert list(first.json())[:13] == RECORD_KEYS
    assert first.json()["status"] in ("PENDING", "PULLING", "EXAMINATION", "CONVERSION",
                                      "TRANSFER", "READY")
    rec = gateway.wait_status("docker", BUSYBOX, user=user)
    assert rec["status"] == "READY", rec
    assert rec["tag"] == ["test/busybox:latest"] and rec["system"] == "lab"
    assert rec["itype"] == "docker" and len(rec["id"]) == 64 and isinstance(rec["last_pull"], float)
    assert rec["userACL"] == [] and rec["groupACL"] == [] and isinstance(rec["ENV"], list)

    image_dir = gateway.root / "images"
    squash, meta = image_dir / f"{rec['id']}.squashfs", image_dir / f"{rec['id']}.meta"
    assert squash.is_file() and meta.is_file()
    assert squash.stat().st_mode & stat.S_IROTH, "public image readable by all"
    assert meta.read_text().startswith("FORMAT: squashfs")
    assert not [p for p in os.listdir(image_dir) if "partial" in p]

    # lookup: implicit :latest, URL-escaped or plain slash, with and without credentials
    for path, who in ((f"/api/lookup/lab/docker/{BUSYBOX}/", user),
                      ("/api/lookup/lab/docker/test/busybox/", None)):
        got = gateway.get(path, user=who)
        assert got.status_code == 200 and list(got.json()) == RECORD_KEYS
        assert got.json()["id"] == rec["id"]
    listed = gateway.get("/api/list/lab/", user=user).json()
    assert [r["id"] for r in listed["list"]] == [rec["id"]]
    assert gateway.get("/api/queue/lab/", user=None).json() == {"list": []}

    # metrics: admin (root) sees lookups, others get []
    metrics = gateway.get("/api/metrics/lab/?limit=1").json()
    assert len(metrics) == 1 and metrics[0]["id"] == rec["id"] and metrics[0]["system"] == "lab"
    assert set(metrics[0]) == {"user", "uid", "system", "type", "tag", "id", "time"}
    assert gateway.get("/api/metrics/lab/", user=user).json() == []

    prom = gateway.get("/metrics", user=None)
    assert prom.status_code == 200 and prom.headers["Content-Type"].startswith("text/plain")
    assert 'shifter_imagegw_images{system="lab",status="READY"} 1' in prom.text
    spec = gateway.get("/openapi.json", user=None).json()
    assert spec["openapi"].startswith("3.") and "/api/lookup/{system}/{itype}/{tag}/" in spec["paths"]
    assert gateway.get("/", user=None).text == "{lookup,pull,expire,list}"


def test_errors_are_json_with_the_right_code(gateway, test_users):
    user = test_users[0].name
    assert_error(gateway.get("/api/lookup/lab/docker/nothing%3Ahere/", user=user), 404,
                 "image not found")
    assert_error(gateway.get("/api/list/nosuchsystem/"), 404, "Invalid System")
    assert_error(gateway.get("/api/lookup/nosuchsystem/docker/x/"), 404, "Invalid System")
    assert_error(gateway.post("/api/pull/lab/docker/x/", {"allowed_uids": "a,b"}), 400,
                 "allowed_uids")
    assert_error(gateway.post("/api/pull/lab/weird/x/"), 400, "image type")
    assert_error(gateway.post("/api/doimport/lab/custom/x/", {"format": "squashfs"}), 400,
                 "filepath")
    assert_error(gateway.post("/api/doimport/lab/custom/x/", {"filepath": "/x",
                                                              "format": "squashfs"}, user=user),
                 403, "ImportUsers")
    assert_error(gateway.get("/api/metrics/lab/?limit=abc"), 400, "limit")
    assert_error(gateway.get("/api/nothing/"), 404, "")
    bad_json = requests.post(gateway.url + "/api/pull/lab/docker/x/", data=b"[1,",
                             headers={"authentication": munge_cred()}, timeout=10)
    assert_error(bad_json, 400, "JSON")
    assert_error(requests.get(gateway.url + "/api/lookup/lab/docker/x/", timeout=10,
                              headers={"authentication": "MUNGE:not-a-credential:"}),
                 401, "Invalid Credential")


def test_admin_only_expire_and_autoexpire(gateway, images, test_users):
    images["busybox"]
    user = test_users[0].name
    rec = gateway.wait_status("docker", BUSYBOX, user=user)
    assert rec["status"] == "READY"
    assert gateway.get(f"/api/expire/lab/docker/{BUSYBOX}/", user=user).json() == {"status": False}
    assert gateway.get("/api/autoexpire/lab/", user=user).json() == {"status": False}
    assert gateway.get("/api/autoexpire/lab/").json() == {"status": []}
    assert gateway.get("/api/expire/lab/docker/nothing/").json() == {"status": None}
    assert gateway.get(f"/api/expire/lab/docker/{BUSYBOX}/").json() == {"status": True}
    image_dir = gateway.root / "images"
    for _ in range(100):
        if not (image_dir / f"{rec['id']}.squashfs").exists():
            break
        import time
        time.sleep(0.1)
    assert not (image_dir / f"{rec['id']}.squashfs").exists()
    assert not (image_dir / f"{rec['id']}.meta").exists()
    assert gateway.get(f"/api/lookup/lab/docker/{BUSYBOX}/", user=user).status_code == 404


def test_doimport_of_a_squashfs(gateway, images, tmp_path, test_users):
    images["busybox"]
    rec = gateway.wait_status("docker", BUSYBOX)
    src = gateway.root / "import.squashfs"
    src.write_bytes((gateway.root / "images" / f"{rec['id']}.squashfs").read_bytes())
    src.chmod(0o644)
    resp = gateway.post("/api/doimport/lab/custom/imported/",
                        {"filepath": str(src), "format": "squashfs"})
    assert resp.status_code == 200, resp.text
    import time
    for _ in range(200):
        got = gateway.get("/api/lookup/lab/custom/imported/")
        if got.status_code == 200:
            break
        time.sleep(0.1)
    assert got.status_code == 200, gateway.get("/api/queue/lab/").text
    from shifter_imagegw.workers import fasthash
    with open(src, "rb") as fh:
        assert got.json()["id"] == fasthash(fh)
    meta = (gateway.root / "images" / f"{got.json()['id']}.meta").read_text()
    assert "FORMAT: squashfs" in meta
    bogus = gateway.root / "bogus.squashfs"
    bogus.write_text("not squashfs")
    bogus.chmod(0o644)
    gateway.post("/api/doimport/lab/custom/bogus/", {"filepath": str(bogus), "format": "squashfs"})
    for _ in range(100):
        queue = gateway.get("/api/queue/lab/").json()["list"]
        if queue and queue[0]["status"] == "FAILURE":
            break
        time.sleep(0.1)
    assert queue == [{"status": "FAILURE", "image": "bogus:latest"}]
    assert json.dumps(queue)


def test_upstream_client_wire_format(gateway, images, test_users):
    """The requests upstream's C shifterimg sends (anchors.md §5), made with curl:
    answers are application/json with an exact Content-Length."""
    import subprocess
    import time
    images["busybox"]
    user = test_users[0]
    url = gateway.url + f"/api/pull/lab/docker/{BUSYBOX}/"
    for _ in range(200):
        out = subprocess.run(
            ["curl", "-s", "-i", "-X", "POST", "-H", f"authentication:{munge_cred(user.name)}",
             "-H", "Content-type: application/json", "--data", "", url],
            capture_output=True, text=True, check=True).stdout
        head, _, body = out.partition("\n\n")  # text mode: CRLF read as LF
        if '"status":"READY"' in body:
            break
        time.sleep(0.2)
    assert head.startswith("HTTP/1.1 200")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":")
                                                     for line in head.splitlines()[1:])}
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body.encode())
    rec = json.loads(body)
    acl = json.dumps({"allowed_uids": str(user.uid), "allowed_gids": ""})
    private = subprocess.run(
        ["curl", "-s", "-X", "POST", "-H", f"authentication:{munge_cred(user.name)}",
         "-H", "Content-type: application/json", "--data", acl,
         gateway.url + "/api/pull/lab/docker/test%2Fbusybox%3Anever/"],
        capture_output=True, text=True, check=True).stdout
    assert json.loads(private)["userACL"] == [user.uid]
    look = subprocess.run(["curl", "-s", "-H", f"authentication:{munge_cred(user.name)}",
                           gateway.url + f"/api/lookup/lab/docker/{BUSYBOX}/"],
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(look)["id"] == rec["id"]
