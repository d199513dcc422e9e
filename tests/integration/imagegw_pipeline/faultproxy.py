"""A tiny HTTP proxy in front of a real registry that injects faults (tests only).

Rules are set per test: fail the first N requests matching a path fragment with a status or a
stall, corrupt blob bodies, or redirect blob GETs to a second listener (another host:port) that
records the headers it received.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Faults:
    fail: dict[str, int] = field(default_factory=dict)     # path fragment -> remaining failures
    status: int = 500
    stall_s: float = 0.0                                   # stall instead of answering a failure
    corrupt_blobs: bool = False
    redirect_blobs: bool = False
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # (listener, path, Authorization)
    proxied: int = 0                                       # requests received as a forward proxy


def _handler(upstream: str, faults: Faults, name: str, lock: threading.Lock):
    session = requests.Session()
    session.trust_env = False  # a test may set http_proxy to this very proxy: never loop back

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            if self.path.startswith("http://"):                # used as a forward proxy
                self.path = "/" + self.path.split("/", 3)[3]
                with lock:
                    faults.proxied += 1
            with lock:
                faults.seen.append((name, self.path, self.headers.get("Authorization")))
                hit = next((k for k, n in faults.fail.items() if k in self.path and n > 0), None)
                if hit:
                    faults.fail[hit] -= 1
            if hit:
                if faults.stall_s:
                    time.sleep(faults.stall_s)
                self._answer(faults.status, b'{"errors":[{"code":"UNAVAILABLE"}]}')
                return
            is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
            if is_blob and faults.redirect_blobs and name == "front":
                self._answer(307, headers={"Location": f"{faults.blobstore}{self.path}"})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            resp = session.request(self.command, upstream + self.path, headers=headers, timeout=30)
            body = resp.content
            if is_blob and faults.corrupt_blobs and resp.status_code == 200 and len(body) > 100:
                body = body[:50] + bytes([body[50] ^ 0xFF]) + body[51:]
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            self._answer(resp.status_code, body, out)

        do_GET = do_HEAD = _serve

    return Handler


class FaultProxy:
    """``front`` forwards to ``upstream``; ``blobstore`` is the redirect target (another port)."""

    def __init__(self, upstream: str) -> None:
        self.faults = Faults()
        lock = threading.Lock()
        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, self.faults, name, lock))
                        for name in ("front", "blobstore")]
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.servers[0].server_port}"
        self.faults.blobstore = f"http://127.0.0.1:{self.servers[1].server_port}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
