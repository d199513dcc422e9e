"""Helpers for the gateway service tests. A real gateway: gunicorn (3 workers) on a free port of
127.0.0.1, running as the unprivileged service user ``shiftergw``, with the
real munged and the test bed's registry.  A small fault-injecting proxy sits
in front of the registry when a test needs to count blob downloads, slow
them down or answer 500.
"""
from __future__ import annotations

import http.client
import json
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from testbed.paths import PREFIX

REPO = Path(__file__).resolve().parents[3]
PY = f"{PREFIX}/venv/bin/python"
GW_USER = "shiftergw"
SRC_PATH = f"{REPO}/imagegw:{REPO}/runtime"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def munge_cred(user: str | None = None, payload: bytes = b"", ttl: int | None = None,
               socket_path: str | None = None) -> str:
    """A munge credential made by *user* (root when None) with the munge CLI."""
    cmd = ["munge", "-s", payload.decode()] if payload else ["munge", "-n"]
    if ttl is not None:
        cmd += ["-t", str(ttl)]
    if socket_path:
        cmd += ["-S", socket_path]
    kw: dict[str, Any] = {}
    if user:
        pw = pwd.getpwnam(user)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


class Gateway:
    """One gunicorn-served gateway process group; stop() or kill() it."""

    def __init__(self, root: Path, user: pwd.struct_passwd, registry_url: str,
                 extra: dict[str, Any] | None = None, workers: int = 3) -> None:
        self.root, self.user, self.workers = root, user, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = root / "state"
        self.config = {
            "Platforms": {"lab": {"mungeSocketPath": "/run/munge/munge.socket.2",
                                  "accesstype": "local",
                                  "local": {"imageDir": str(root / "images")},
                                  "admins": ["root"]}},
            "DefaultImageLocation": "localreg",
            "Locations": {"localreg": {"url": registry_url}},
            "CacheDirectory": str(state / "cache"), "ExpandDirectory": str(state / "expand"),
            "CatalogPath": str(state / "catalog" / "images.sqlite"),
            "PullUpdateTimeout": 300, "ImageExpirationTimeout": "1:00:00:00",
            "Metrics": True, "ImportUsers": ["root"], "LogLevel": "info", "WorkerThreads": 2,
        }
        self.config.update(extra or {})
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Gateway":
        cfg = self.root / "imagemanager.json"
        cfg.write_text(json.dumps(self.config, indent=1))
        cfg.chmod(0o644)
        log = open(self.root / "gateway.log", "ab")
        env = {"PATH": f"{PREFIX}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": SRC_PATH,
               "HOME": "/tmp"}
        self.proc = subprocess.Popen(
            [PY, "-m", "shifter_imagegw.serve", "-c", str(cfg), "-b", f"127.0.0.1:{self.port}",
             "-w", str(self.workers)], env=env, stdout=log, stderr=subprocess.STDOUT,
            user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[],
            start_new_session=True, cwd="/")
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if requests.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not answer: {self.log()[-2000:]}")

    def log(self) -> str:
        return (self.root / "gateway.log").read_text(errors="replace")

    def _signal(self, sig: int, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # workers of the group too
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, 20)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10)

    # -- HTTP helpers ----------------------------------------------------------------
    def get(self, path: str, user: str | None = "root", **kw) -> requests.Response:
        headers = {"authentication": munge_cred(user if user != "root" else None)} if user else {}
        return requests.get(self.url + path, headers=headers, timeout=30, **kw)

    def post(self, path: str, body: Any = None, user: str | None = "root",
             **kw) -> requests.Response:
        headers = {"authentication": munge_cred(user if user != "root" else None)} if user else {}
        return requests.post(self.url + path, json=body, headers=headers, timeout=30, **kw)

    def wait_status(self, itype: str, tag: str, want=("READY", "FAILURE"), user: str | None = None,
                    timeout: float = 120.0, body: Any = None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            rec = self.post(f"/api/pull/lab/{itype}/{tag}/", body, user=user).json()
            if rec.get("status") in want or time.monotonic() > deadline:
                return rec
            time.sleep(0.3)


class RegistryProxy:
    """HTTP proxy to the registry that counts blob GETs and can fail or slow them."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.split("://", 1)[1]
        self.blob_gets: Counter[str] = Counter()
        self.fail_status: int | None = None
        self.delay_per_chunk = 0.0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _forward(self) -> None:
                is_blob = "/blobs/" in self.path
                if is_blob and self.command == "GET":
                    with proxy.lock:
                        proxy.blob_gets[self.path.rsplit("/", 1)[1]] += 1
                if proxy.fail_status and (is_blob or "/manifests/" in self.path):
                    body = b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}'
                    self.send_response(proxy.fail_status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    while chunk := resp.read(64 * 1024):
                        self.wfile.write(chunk)
                        if is_blob and proxy.delay_per_chunk:
                            time.sleep(proxy.delay_per_chunk)
                conn.close()

            do_GET = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
