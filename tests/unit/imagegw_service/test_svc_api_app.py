"""The Flask app in-process for anonymous requests (no munge needed): routes,
JSON shapes and error bodies.  Authenticated paths are covered by the
integration tests against a real munged."""
import pytest

from shifter_imagegw.api import create_app
from shifter_imagegw.config import parse_config
from shifter_imagegw.manager import RESPONSE_KEYS
from shifter_imagegw.store import ImageRecord
from shifter_imagegw.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit


@pytest.fixture
def client(tmp_path):
    cfg = parse_config({"Platforms": {"lab": {"local": {"imageDir": str(tmp_path)},
                                              "admins": ["root"]}},
                        "CatalogPath": str(tmp_path / "c.sqlite")})
    store = SQLiteStore(cfg.catalog_path)
    rec = ImageRecord("lab", "docker", "pub:1", status="READY", id="f" * 64, private=False)
    store.insert(rec)
    store.add_tag(rec.ident, "lab", "pub:1")
    app = create_app(cfg, store, workers=False)
    yield app.test_client()
    store.close()


def test_anonymous_lookup_list_and_pull(client):
    got = client.get("/api/lookup/lab/docker/pub%3A1/")
    assert got.status_code == 200 and list(got.get_json()) == list(RESPONSE_KEYS)
    assert got.get_json()["id"] == "f" * 64 and got.get_json()["ENV"] == "MISSING"
    assert [r["tag"] for r in client.get("/api/list/lab").get_json()["list"]] == [["pub:1"]]
    pulled = client.post("/api/pull/lab/docker/new/image/", json={})
    assert pulled.status_code == 200
    doc = pulled.get_json()
    assert doc["status"] == "PENDING" and doc["id"] == "MISSING" and doc["tag"] == []
    assert doc["progress"] == {"bytes_done": 0, "bytes_total": 0}
    assert client.get("/api/queue/lab/").get_json() == {
        "list": [{"status": "PENDING", "image": "new/image:latest"}]}


def test_error_bodies(client):
    resp = client.get("/api/lookup/lab/docker/none/")
    assert resp.status_code == 404
    assert resp.get_json() == {"status": 404, "error": "image not found: docker:none",
                               "message": "Not Found: http://localhost/api/lookup/lab/docker/none/"}
    assert client.get("/api/list/zzz/").get_json()["error"] == "Invalid System: 'zzz'"
    assert client.post("/api/pull/lab/docker/x/", data="{").status_code == 400
    assert client.get("/api/expire/lab/docker/pub:1/").get_json() == {"status": False}
    assert client.get("/api/metrics/lab/").get_json() == []
    assert client.post("/api/login/lab/default/").status_code == 401
    assert client.delete("/api/list/lab/").status_code == 405


def test_prometheus_and_openapi(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'shifter_imagegw_images{system="lab",status="READY"} 1' in text
    assert "# TYPE shifter_imagegw_requests_total counter" in text
    spec = client.get("/openapi.json").get_json()
    params = spec["paths"]["/api/metrics/{system}/"]["get"]["parameters"]
    assert {"limit", "system"} == {p["name"] for p in params}
    limit = next(p["schema"] for p in params if p["name"] == "limit")
    assert (limit["minimum"], limit["maximum"]) == (0, 100_000)  # as the route enforces


def test_unreachable_munged_is_503_not_401(tmp_path):
    cfg = parse_config({"Platforms": {"lab": {"local": {"imageDir": str(tmp_path)},
                                              "mungeSocketPath": str(tmp_path / "no.sock")}},
                        "CatalogPath": str(tmp_path / "c.sqlite")})
    client = create_app(cfg, SQLiteStore(cfg.catalog_path), workers=False).test_client()
    resp = client.get("/api/list/lab/", headers={"authentication": "MUNGE:AwQFAAB:"})
    assert resp.status_code == 503 and "munge service unavailable" in resp.get_json()["error"]
