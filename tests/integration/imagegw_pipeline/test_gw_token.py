"""Bearer-token auth: a real registry (``auth: token``) and a token server of the tests' own.

The registry shares the storage of the test bed's open registry, so the test images are there.
``test/busybox`` is public (anonymous tokens may pull); ``test/tricky`` needs credentials.
"""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shifter_imagegw.pipeline import PullError, PullRequest, pull_image
from testbed.images import build
from testbed.paths import run_dir

pytestmark = pytest.mark.integration

USER, PASSWORD = "tokenuser", "tokenpass"
PUBLIC = {"test/busybox"}
SERVICE, ISSUER = "gw-test-registry", "gw-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TokenIssuer:
    """Signs RS256 JWTs with ``openssl`` (x5c header: the self-signed cert the registry trusts)."""

    def __init__(self, workdir: Path) -> None:
        self.key, self.cert = workdir / "key.pem", workdir / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "1", "-subj", "/CN=gw-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[tuple[str, bool]] = []

    def token(self, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": f"{now}-{len(self.requests)}", "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64(sig)}"

    def handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                authed = auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                issuer.requests.append((query.get("scope", [""])[0], bool(auth)))
                if auth and not authed:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                access = []
                for scope in query.get("scope", []):
                    kind, name, _ = scope.split(":", 2)
                    if authed or name in PUBLIC:
                        access.append({"type": kind, "name": name, "actions": ["pull"]})
                body = json.dumps({"token": issuer.token(access), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture(scope="module")
def token_registry(registry, images, tmp_path_factory):
    images["busybox"], images["tricky"]
    work = tmp_path_factory.mktemp("token")
    issuer = TokenIssuer(work)
    server = ThreadingHTTPServer(("127.0.0.1", 0), issuer.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    config = work / "config.yml"
    config.write_text(f"""version: 0.1
log: {{level: warn, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: {run_dir('registry', 'open') / 'data'}}}}}
http: {{addr: 127.0.0.1:{port}}}
auth:
  token:
    realm: http://127.0.0.1:{server.server_port}/token
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {issuer.cert}
""")
    log = open(work / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail(f"token registry did not start: {(work / 'registry.log').read_text()[-500:]}")
        yield SimpleNamespace(host=f"127.0.0.1:{port}", issuer=issuer)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        server.shutdown()
        server.server_close()


def _pull(ref, tmp_path, **kw):
    return pull_image(PullRequest(ref, **kw), cache_dir=tmp_path / "cache", expand_dir=tmp_path / "expand",
                      image_dir=tmp_path / "images", backoff=0.05)


def test_anonymous_token_for_a_public_repository(token_registry, tmp_path):
    image = _pull(f"{token_registry.host}/test/busybox:latest", tmp_path)
    assert image.id == build("busybox").image_id and not image.authenticated
    assert all(not authed for _, authed in token_registry.issuer.requests)


def test_private_repository_needs_credentials(token_registry, tmp_path):
    ref = f"{token_registry.host}/test/tricky:latest"
    with pytest.raises(PullError, match="authentication required"):
        _pull(ref, tmp_path)
    with pytest.raises(PullError, match="token server .* refused the credentials"):
        _pull(ref, tmp_path, credentials={"default": f"{USER}:wrong"})
    token_registry.issuer.requests.clear()
    image = _pull(ref, tmp_path, credentials={token_registry.host: f"{USER}:{PASSWORD}"})
    assert image.id == build("tricky").image_id and image.authenticated
    assert [authed for _, authed in token_registry.issuer.requests][:2] == [False, True]
