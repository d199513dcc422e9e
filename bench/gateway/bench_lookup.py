#!/usr/bin/python3
"""Lookup throughput of the gateway with 64 concurrent clients.

Goal (issue 3): >= 1,500 requests/s and p99 <= 50 ms on 2 cores.

Starts a gunicorn-served gateway as the unprivileged user ``shiftergw`` on a
free port of 127.0.0.1 with a catalogue holding one READY image, then runs
ApacheBench (keep-alive, 64 concurrent clients) against
``/api/lookup/<system>/docker/<tag>/``:

* ``anonymous``: no credential (public image; what upstream allows too);
* ``munge``: every request carries a fresh munge credential (pre-generated,
  since each may be used once), sent by a Python thread pool of 64 clients.

Run as root from the repository root:
    /opt/shifter-tests/venv/bin/python bench/gateway/bench_lookup.py [--workers N] [--requests N]
Prints one JSON line per mode and appends a summary to bench/README.md with --record.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "imagegw"), str(REPO / "runtime"),
                str(REPO / "tests" / "integration" / "imagegw_service")]

from gwtest import GW_USER, PY, SRC_PATH, free_port  # noqa: E402

TAG = "bench/image:latest"


def start_gateway(root: Path, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    import pwd
    from shifter_imagegw.store import ImageRecord
    from shifter_imagegw.store.sqlite import SQLiteStore

    gw = pwd.getpwnam(GW_USER)
    state = root / "state"
    (state / "catalog").mkdir(parents=True)
    store = SQLiteStore(str(state / "catalog" / "images.sqlite"))
    ident = store.insert(ImageRecord("lab", "docker", TAG, status="READY", id="ab" * 32,
                                     private=False, ENV=["PATH=/bin"], last_pull=time.time(),
                                     expiration=time.time() + 86400))
    store.add_tag(ident, "lab", TAG)
    store.close()
    for path in (state, *state.rglob("*")):
        os.chown(path, gw.pw_uid, gw.pw_gid)
    port = free_port()
    cfg = root / "imagemanager.json"
    cfg.write_text(json.dumps({
        "Platforms": {"lab": {"accesstype": "local", "local": {"imageDir": str(root)},
                              "admins": ["root"]}},
        "CacheDirectory": str(state / "cache"), "ExpandDirectory": str(state / "expand"),
        "CatalogPath": str(state / "catalog" / "images.sqlite"), "LogLevel": "warn"}))
    proc = subprocess.Popen(
        [PY, "-m", "shifter_imagegw.serve", "-c", str(cfg), "-b", f"127.0.0.1:{port}",
         "-w", str(workers), "--threads", str(threads)],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC_PATH, "HOME": "/tmp"},
        user=gw.pw_uid, group=gw.pw_gid, extra_groups=[], start_new_session=True, cwd="/",
        stdout=subprocess.DEVNULL, stderr=open(root / "gateway.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    import urllib.request
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gateway did not start: {(root / 'gateway.log').read_text()}")


def run_ab(url: str, n: int, c: int) -> dict:
    path = "/api/lookup/lab/docker/" + TAG.replace("/", "%2F").replace(":", "%3A") + "/"
    out = subprocess.run(["ab", "-q", "-k", "-n", str(n), "-c", str(c), url + path],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    pct = {int(p): float(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M)}
    return {"mode": "anonymous", "clients": c, "requests": n, "rps": rps, "p50_ms": pct.get(50),
            "p99_ms": pct.get(99), "failed": failed + (int(non2xx.group(1)) if non2xx else 0)}


def run_munge(url: str, n: int, c: int) -> dict:
    import http.client
    from shifter_imagegw.client.api import munge_credential
    creds = [munge_credential() for _ in range(n)]
    path = "/api/lookup/lab/docker/" + TAG.replace("/", "%2F").replace(":", "%3A") + "/"
    host = url.split("://", 1)[1]
    lat: list[float] = []
    bad = [0]
    lock = threading.Lock()
    it = iter(creds)

    def client() -> None:
        conn = http.client.HTTPConnection(host, timeout=30)
        mine, errors = [], 0
        while True:
            with lock:
                cred = next(it, None)
            if cred is None:
                break
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"authentication": cred})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            errors += resp.status != 200
        conn.close()
        with lock:
            lat.extend(mine)
            bad[0] += errors
    threads = [threading.Thread(target=client) for _ in range(c)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"mode": "munge", "clients": c, "requests": n, "rps": round(n / wall, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1), "failed": bad[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2),
                    help="gunicorn workers (default: the gateway's, one per core)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--munge-requests", type=int, default=3000)
    ap.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shifter-gwbench-"))
    root.chmod(0o755)
    proc = None
    try:
        proc, url = start_gateway(root, args.workers, args.threads)
        run_ab(url, 2000, args.clients)  # warm up
        results = [run_ab(url, args.requests, args.clients)]
        if args.munge_requests:
            results.append(run_munge(url, args.munge_requests, args.clients))
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    for res in results:
        res.update(workers=args.workers, threads=args.threads)
        print(json.dumps(res))
    if args.record:
        load = os.getloadavg()[0]
        with open(REPO / "bench" / "README.md", "a") as fh:
            fh.write(f"\n### gateway lookup ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
                     f" 2 cores, load {load:.1f} from other work)\n\n"
                     "| mode | clients | requests | req/s | p50 ms | p99 ms | failed |\n"
                     "|---|---|---|---|---|---|---|\n")
            for r in results:
                fh.write(f"| {r['mode']} | {r['clients']} | {r['requests']} | {r['rps']} | "
                         f"{r['p50_ms']} | {r['p99_ms']} | {r['failed']} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
