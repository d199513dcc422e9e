"""Pulls from a hostile registry: a tiny http.server on 127.0.0.1 serving crafted answers.

Every failure is a one-line PullError naming the image, with nothing published and no blob cached.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shifter_imagegw.layercache import LayerCache
from shifter_imagegw.metafile import ImageMeta
from shifter_imagegw.pipeline import PullError, PullRequest, pull_image
from shifter_imagegw.reference import parse_reference
from shifter_imagegw.registry import Descriptor, RegistryClient, RegistryError

REPO = "test/img"
V2 = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.oci.image.index.v1+json"
Answer = Callable[[BaseHTTPRequestHandler], None]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def body(data: bytes, status: int = 200, ctype: str = "application/octet-stream",
         length: int | None = None) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        h.end_headers()
        h.wfile.write(data)
    return answer


def forever(h: BaseHTTPRequestHandler) -> None:
    """Zeros without end (no Content-Length), until the client hangs up."""
    h.send_response(200)
    h.send_header("Content-Type", V2)
    h.end_headers()
    try:
        while True:
            h.wfile.write(b"\0" * 65536)
    except OSError:
        pass


def stall(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "100")
    h.end_headers()
    h.wfile.write(b"x")
    h.wfile.flush()
    time.sleep(3)


def redirect(url: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", url)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


class Server:
    """``routes``: path -> answer; every request's path and Authorization header is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.seen: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization", "")))
                server.routes.get(self.path.split("?")[0], body(b"{}", 404))(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def image(self, manifest: dict | bytes, tag: str = "v1") -> None:
        data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        self.routes[f"/v2/{REPO}/manifests/{tag}"] = body(data, ctype=V2)

    def blob(self, digest: str, answer: Answer) -> None:
        self.routes[f"/v2/{REPO}/blobs/{digest}"] = answer


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


CONFIG = json.dumps({"os": "linux", "architecture": "amd64", "config": {"Env": ["A=1"]}}).encode()
LAYER = layer_tar({"hello": b"hi\n"})


def manifest(config: bytes = CONFIG, layers: tuple[bytes, ...] = (LAYER,), sizes: dict | None = None) -> dict:
    sizes = sizes or {}
    desc = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha(d),
             "size": sizes.get(sha(d), len(d))} for d in layers]
    return {"schemaVersion": 2, "mediaType": V2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(config),
                       "size": sizes.get(sha(config), len(config))},
            "layers": desc}


def serve_image(srv: Server, config: bytes = CONFIG, layers: tuple[bytes, ...] = (LAYER,)) -> None:
    srv.image(manifest(config, layers))
    for data in (config, *layers):
        srv.blob(sha(data), body(data))


def pull(srv: Server, tmp_path: Path, suffix: str = ":v1", **kw) -> str:
    """Pull and expect failure: the one-line message, after checking nothing was left."""
    ref = f"127.0.0.1:{srv.port}/{REPO}{suffix}"
    with pytest.raises(PullError) as err:
        pull_image(PullRequest(ref), cache_dir=tmp_path / "cache", expand_dir=tmp_path / "expand",
                   image_dir=tmp_path / "images", timeout=kw.pop("timeout", 5), retries=0, backoff=0, **kw)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(ref), msg
    assert not list((tmp_path / "images").glob("*")) if (tmp_path / "images").exists() else True
    cached = (tmp_path / "cache" / "blobs").rglob("*")
    assert all(sha(p.read_bytes()) == f"sha256:{p.name}" for p in cached if p.is_file()), "a wrong blob was cached"
    assert not list((tmp_path / "cache" / "tmp").glob("*.partial"))
    assert not (tmp_path / "expand").exists() or not list((tmp_path / "expand").iterdir())
    return msg


def test_sane_image_pulls(server, tmp_path):
    """The fake registry itself is sound: its image pulls."""
    serve_image(server)
    image = pull_image(PullRequest(f"127.0.0.1:{server.port}/{REPO}:v1"), cache_dir=tmp_path / "cache",
                       expand_dir=tmp_path / "expand", image_dir=tmp_path / "images", retries=0)
    assert image.squashfs.is_file() and image.meta.env == ["A=1"]


def test_layer_bytes_not_matching_digest(server, tmp_path):
    serve_image(server)
    server.blob(sha(LAYER), body(LAYER[:-1] + b"X"))
    assert "digest mismatch" in pull(server, tmp_path)


def test_config_bytes_not_matching_digest(server, tmp_path):
    serve_image(server)
    server.blob(sha(CONFIG), body(CONFIG.replace(b"A=1", b"A=2")))
    assert "digest mismatch" in pull(server, tmp_path)


def test_manifest_by_digest_not_matching(server, tmp_path):
    serve_image(server)
    wrong = "sha256:" + "0" * 64
    server.image(manifest(), tag=wrong)
    assert "manifest digest mismatch" in pull(server, tmp_path, f"@{wrong}")


@pytest.mark.parametrize("doc, why", [
    (b"x" * (5 << 20), "larger than 4194304 bytes"),
    (b"<html>not json</html>", "is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b"[" * 100000 + b"]" * 100000, "is not JSON"),
    (json.dumps({"schemaVersion": 2, "mediaType": V2, "config": 5, "layers": "x"}).encode(), "malformed descriptor"),
    (json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": ["x", 5]}).encode(), "no manifest for platform"),
])
def test_bad_manifest(server, tmp_path, doc, why):
    server.image(doc)
    assert why in pull(server, tmp_path)


def test_endless_manifest(server, tmp_path):
    server.routes[f"/v2/{REPO}/manifests/v1"] = forever
    assert "larger than" in pull(server, tmp_path)


def test_index_pointing_to_itself(server, tmp_path):
    entry = {"mediaType": INDEX, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}
    doc = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [dict(entry, digest="sha256:" + "1" * 64)]}
    data = json.dumps(doc).encode()
    doc["manifests"][0]["digest"] = sha(data)          # not itself yet: an index whose entry is an index
    nested = json.dumps(doc).encode()
    server.image(nested)
    server.image(data, tag=sha(data))
    server.image(nested, tag=sha(nested))
    assert "nested manifest list" in pull(server, tmp_path)


def test_thousands_of_layers_with_a_bad_one(server, tmp_path):
    """3000 layers: the manifest is accepted, the bad blob fails the pull and is not cached."""
    layers = tuple(layer_tar({f"f{i}": b"%d" % i}) for i in range(3000))
    serve_image(server, layers=layers)
    server.blob(sha(layers[-1]), body(b"bad"))
    assert "mismatch" in pull(server, tmp_path)


def test_descriptor_without_size(server, tmp_path):
    doc = manifest()
    del doc["layers"][0]["size"]
    server.image(doc)
    server.blob(sha(CONFIG), body(CONFIG))
    assert "malformed descriptor" in pull(server, tmp_path)


def test_huge_config_is_not_fetched(server, tmp_path):
    serve_image(server)
    server.image(manifest(sizes={sha(CONFIG): 1 << 30}))
    assert "larger than 8388608 bytes" in pull(server, tmp_path)
    assert not [p for p, _ in server.seen if "/blobs/" in p]


def test_config_longer_than_declared(server, tmp_path):
    serve_image(server)
    server.blob(sha(CONFIG), forever)
    assert f"blob {sha(CONFIG)} is larger than {len(CONFIG)} bytes" in pull(server, tmp_path)


@pytest.mark.parametrize("config", [b'{"config": {"Env": 5, "Labels": [1], "WorkingDir": 7, "Cmd": 3}}',
                                    b'{"config": "x"}', b'{"config": {"Env": ["A=1", 2, null]}}'])
def test_config_of_wrong_types(config):
    meta = ImageMeta.from_config(json.loads(config))
    meta.render()
    assert all(isinstance(e, str) for e in meta.env)


def test_layer_longer_than_declared(server, tmp_path):
    serve_image(server)
    server.blob(sha(LAYER), forever)
    assert f"more than the {len(LAYER)} bytes the manifest declares" in pull(server, tmp_path)


def test_layer_shorter_than_content_length(server, tmp_path):
    serve_image(server)
    server.blob(sha(LAYER), body(LAYER[:10], length=len(LAYER)))
    assert "ChunkedEncodingError" in pull(server, tmp_path)


def test_stalled_layer_times_out(server, tmp_path):
    serve_image(server)
    server.blob(sha(LAYER), stall)
    started = time.monotonic()
    assert "after 1 tries" in pull(server, tmp_path, timeout=0.5)
    assert time.monotonic() - started < 3


def test_stalled_manifest_times_out(server, tmp_path):
    server.routes[f"/v2/{REPO}/manifests/v1"] = stall
    assert "ConnectionError" in pull(server, tmp_path, timeout=0.5)


def test_decompression_bomb_is_capped(server, tmp_path):
    bomb = layer_tar({"zeros": b"\0" * (64 << 20)})
    assert len(bomb) < 128 << 10
    serve_image(server, layers=(bomb,))
    msg = pull(server, tmp_path, converter_options={"max_unpacked": 16 << 20})
    assert "layers unpack to more than 16777216 bytes (ConverterOptions.max_unpacked)" in msg


def _challenge(realm: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(401)
        h.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="x"')
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


def _client(port: int, auth_method: str = "token", host: str = "127.0.0.1") -> RegistryClient:
    ref = parse_reference(f"evil/{REPO}:v1", {"evil": {"url": f"http://{host}:{port}", "authMethod": auth_method}})
    return RegistryClient(ref, credentials=("user", "secret"), timeout=5, retries=0, backoff=0)


def test_credentials_not_sent_to_plain_http_realm_on_other_host(server):
    realm = Server()
    try:
        realm.routes["/token"] = body(b'{"token": "t"}')
        server.routes[f"/v2/{REPO}/manifests/v1"] = _challenge(f"http://localhost:{realm.port}/token")
        with pytest.raises(RegistryError, match="credentials are not sent there"):
            _client(server.port).get_manifest("v1")
        assert all(not auth.startswith("Basic") for _, auth in realm.seen)
    finally:
        realm.httpd.shutdown()
        realm.httpd.server_close()


def test_credentials_sent_to_plain_http_realm_on_same_host(server):
    server.routes["/token"] = body(b'{"token": "t"}', status=401)
    server.routes[f"/v2/{REPO}/manifests/v1"] = _challenge(f"http://127.0.0.1:{server.port}/token")
    with pytest.raises(RegistryError, match="refused the credentials"):
        _client(server.port).get_manifest("v1")
    assert [auth for path, auth in server.seen if path.startswith("/token")][-1].startswith("Basic ")


@pytest.mark.parametrize("realm", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x"])
def test_realm_must_be_http(server, realm):
    server.routes[f"/v2/{REPO}/manifests/v1"] = _challenge(realm)
    with pytest.raises(RegistryError, match="is not an http"):
        _client(server.port).get_manifest("v1")


def test_token_realm_redirecting_to_file(server):
    server.routes["/token"] = redirect("file:///etc/passwd")
    server.routes[f"/v2/{REPO}/manifests/v1"] = _challenge(f"http://127.0.0.1:{server.port}/token")
    with pytest.raises(RegistryError, match="token server"):
        _client(server.port).get_manifest("v1")


def test_huge_token_answer(server):
    server.routes["/token"] = forever
    server.routes[f"/v2/{REPO}/manifests/v1"] = _challenge(f"http://127.0.0.1:{server.port}/token")
    with pytest.raises(RegistryError, match="larger than"):
        _client(server.port).get_manifest("v1")


def test_blob_redirect_to_other_host_drops_authorization(server, tmp_path):
    storage = Server()
    try:
        storage.routes["/store"] = body(LAYER)
        server.blob(sha(LAYER), redirect(f"http://localhost:{storage.port}/store"))
        client = _client(server.port, auth_method="basic")
        path = client.fetch_blob(Descriptor("", sha(LAYER), len(LAYER)), LayerCache(tmp_path), lambda n: None)
        assert path.read_bytes() == LAYER
        assert server.seen[-1][1].startswith("Basic ") and storage.seen == [("/store", "")]
    finally:
        storage.httpd.shutdown()
        storage.httpd.server_close()


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/blob"])
def test_blob_redirect_to_other_scheme(server, tmp_path, target):
    server.blob(sha(LAYER), redirect(target))
    with pytest.raises(RegistryError, match="is not an http"):
        _client(server.port).fetch_blob(Descriptor("", sha(LAYER), len(LAYER)), LayerCache(tmp_path), lambda n: None)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_path_characters_in_descriptor_digest(server, tmp_path):
    doc = manifest()
    doc["layers"][0]["digest"] = "sha256:../../../../etc/passwd"
    server.image(doc)
    server.blob(sha(CONFIG), body(CONFIG))
    assert "malformed digest" in pull(server, tmp_path)
