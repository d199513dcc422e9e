"""``shifter-imagegw``: serve the gateway with gunicorn (several workers).

Runs as an unprivileged service user and refuses root.  The configuration is
validated before any worker starts; each worker process builds its own app,
catalogue connection and job threads after the fork.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .config import ConfigError, GatewayConfig, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shifter-imagegw", description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", help="imagemanager.json (default: $GWCONFIG or "
                                          "/etc/shifter/imagemanager.json)")
    p.add_argument("-b", "--bind", help="host:port (default: the Bind key, 127.0.0.1:8000)")
    p.add_argument("-w", "--workers", type=int, help="gunicorn worker processes "
                                                     "(default: GatewayWorkers or $WORKERS)")
    p.add_argument("--threads", type=int, default=4, help="request threads per worker")
    p.add_argument("--connections", type=int, default=32,
                   help="open client connections per worker (more wait in the backlog)")
    p.add_argument("--access-log", default=None, help="access log file ('-' for stderr)")
    p.add_argument("--pid-file", default=None, help="write the master's pid here")
    return p


def gunicorn_options(config: GatewayConfig, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "bind": args.bind or config.bind,
        "workers": args.workers or config.gateway_workers,
        "worker_class": "gthread",
        "threads": args.threads,
        # A worker stops accepting at this many open connections, so a burst of clients is
        # spread over all workers; without a cap one worker took 62 of 64 keep-alive clients
        # and the lookup p99 tripled (bench/gateway).
        "worker_connections": args.connections,
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": 2048,
        "preload_app": False,
        "accesslog": args.access_log,
        "errorlog": "-",
        "loglevel": "warning" if config.log_level == "warn" else config.log_level,
        "pidfile": args.pid_file,
        "proc_name": "shifter-imagegw",
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() == 0:
        print("shifter-imagegw: refusing to run as root; start it as the gateway service user",
              file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"shifter-imagegw: {exc}", file=sys.stderr)
        return 1
    for option in ("workers", "threads", "connections"):
        value = getattr(args, option)
        if value is not None and value < 1:
            print(f"shifter-imagegw: --{option} must be >= 1", file=sys.stderr)
            return 1
    for path in (config.cache_dir, config.expand_dir, os.path.dirname(config.catalog_path)):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            print(f"shifter-imagegw: cannot create {path}: {exc.strerror}", file=sys.stderr)
            return 1
    from .pipeline import sweep_leftovers
    gone = sweep_leftovers(config.expand_dir, [p.image_dir for p in config.platforms.values()
                                               if p.accesstype == "local"])
    if gone:
        print(f"shifter-imagegw: removed {len(gone)} leftover(s) of an interrupted run "
              f"(first: {gone[0]})", file=sys.stderr)
    # Create the catalogue (schema, WAL mode) once, before the workers fork: several
    # workers switching a new SQLite file to WAL at the same moment can get "database
    # is locked" without waiting, and a worker that fails to boot stops gunicorn.
    from .store import open_store
    open_store(config).close()
    from gunicorn.app.base import BaseApplication

    class Gateway(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(config, args).items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            from .api import create_app
            return create_app(load_config(config.path))

    Gateway().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
