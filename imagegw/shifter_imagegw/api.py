"""Flask application factory: upstream's REST routes and JSON (inventory §1.2).

Errors are JSON ``{"status": <code>, "error": <reason>, "message": "<phrase>:
<url>"}`` with the matching HTTP status.  Also ``GET /metrics`` (Prometheus
text) and ``GET /openapi.json``.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .auth import AUTH_HEADER, AuthError, Session, authenticate
from .config import GatewayConfig, load_config
from .manager import ImageManager, ManagerError, parse_id_list, response
from .openapi import MAX_METRICS, openapi_document
from .store import IN_PROGRESS, ImageStore, open_store

LOG = logging.getLogger("shifter_imagegw.api")
MAX_BODY = 1 << 20       # request bodies are a few ACL ids and a path


class ApiError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _error(code: int, reason: str) -> Response:
    phrase = HTTPStatus(code).phrase
    resp = jsonify({"status": code, "error": reason, "message": f"{phrase}: {request.url}"})
    resp.status_code = code
    return resp


def create_app(config: GatewayConfig | None = None, store: ImageStore | None = None,
               *, workers: bool = True, **pool_options: Any) -> Flask:
    """The gateway app; *workers* False gives an app that only queues jobs."""
    config = config or load_config()
    level = config.log_level.upper()
    logging.basicConfig(level="WARNING" if level == "WARN" else level)
    store = store or open_store(config)
    pool = None
    if workers:
        from .workers import WorkerPool
        pool = WorkerPool(config, store, **pool_options)
    manager = ImageManager(config, store, pool)
    if pool is not None:
        pool.bind(manager).start()
    app = Flask("shifter_imagegw")
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["imagegw"] = {"manager": manager, "pool": pool, "config": config}
    counts: Counter[tuple[str, int]] = Counter()

    def session_for(system: str) -> Session:
        plat = config.platform(system)
        if plat is None:
            raise ApiError(404, f"Invalid System: {system!r}")
        try:
            return authenticate(request.headers.get(AUTH_HEADER), system, plat.munge_socket)
        except AuthError as exc:
            raise ApiError(exc.http, str(exc)) from None

    def body() -> dict[str, Any]:
        if not request.get_data():
            return {}
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict):
            raise ApiError(400, "request body is not a JSON object")
        return data

    def acls(data: dict[str, Any]) -> tuple[list[int], list[int]]:
        return (parse_id_list(data.get("allowed_uids"), "allowed_uids"),
                parse_id_list(data.get("allowed_gids"), "allowed_gids"))

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _error(exc.code, exc.reason)

    @app.errorhandler(ManagerError)
    def manager_error(exc: ManagerError) -> Response:
        return _error(exc.http, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        LOG.exception("unexpected error on %s", request.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.after_request
    def count(resp: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        counts[(rule, resp.status_code)] += 1
        return resp

    @app.get("/")
    def root() -> Response:
        return Response("{lookup,pull,expire,list}", mimetype="text/plain")

    @app.get("/api/list/<system>/", strict_slashes=False)
    def imglist(system: str) -> Response:
        session = session_for(system)
        return jsonify({"list": [response(r) for r in manager.imglist(session, system)]})

    @app.get("/api/lookup/<system>/<itype>/<path:tag>/", strict_slashes=False)
    def lookup(system: str, itype: str, tag: str) -> Response:
        session = session_for(system)
        rec = manager.lookup(session, system, itype, tag)
        if rec is None:
            raise ApiError(404, f"image not found: {itype}:{tag}")
        return jsonify(response(rec))

    @app.post("/api/pull/<system>/<itype>/<path:tag>/", strict_slashes=False)
    def pull(system: str, itype: str, tag: str) -> Response:
        session = session_for(system)
        uids, gids = acls(body())
        rec = manager.pull(session, system, itype, tag, uids, gids)
        out = response(rec)
        out["progress"] = {"bytes_done": rec.bytes_done, "bytes_total": rec.bytes_total}
        return jsonify(out)

    @app.post("/api/doimport/<system>/<itype>/<path:tag>/", strict_slashes=False)
    def doimport(system: str, itype: str, tag: str) -> Response:
        session = session_for(system)
        data = body()
        missing = [k for k in ("filepath", "format") if not data.get(k)]
        if missing:
            raise ApiError(400, f"doimport: missing {', '.join(missing)} in the request body")
        uids, gids = acls(data)
        rec = manager.doimport(session, system, itype, tag, str(data["filepath"]),
                               str(data["format"]), uids, gids)
        return jsonify(response(rec))

    @app.get("/api/expire/<system>/<itype>/<path:tag>/", strict_slashes=False)
    def expire(system: str, itype: str, tag: str) -> Response:
        session = session_for(system)
        return jsonify({"status": manager.expire(session, system, itype, tag)})

    @app.get("/api/autoexpire/<system>/", strict_slashes=False)
    def autoexpire(system: str) -> Response:
        session = session_for(system)
        return jsonify({"status": manager.autoexpire(session, system)})

    @app.get("/api/metrics/<system>/", strict_slashes=False)
    def metrics(system: str) -> Response:
        session = session_for(system)
        raw = request.args.get("limit", "10")
        if not (raw.isascii() and raw.isdigit() and len(raw) < 7 and int(raw) <= MAX_METRICS):
            raise ApiError(400, f"limit: expected an integer from 0 to {MAX_METRICS}, got {raw!r}")
        return jsonify(manager.metrics(session, system, int(raw)))

    @app.post("/api/login/<system>/<location>/", strict_slashes=False)
    def login(system: str, location: str) -> Response:
        session = session_for(system)
        if session.anonymous:
            raise ApiError(401, "login needs a munge credential")
        secret = session.tokens.get(location)
        if not secret:
            raise ApiError(400, f"no credentials for location {location!r} in the payload")
        from .login import check_login
        ok, message = check_login(location, secret, config.locations, config.default_location)
        return jsonify({"ok": ok, "message": message})

    @app.get("/api/queue/<system>/", strict_slashes=False)
    def queue(system: str) -> Response:
        return jsonify({"list": manager.queue(system)})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(_prometheus(manager, counts), mimetype="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document())

    return app


def _prometheus(manager: ImageManager, counts: Counter) -> str:
    by_status: Counter[tuple[str, str]] = Counter()
    done = total = 0
    for rec in manager.store.find():
        by_status[(rec.system, rec.status)] += 1
        if rec.status in IN_PROGRESS:
            done += rec.bytes_done
            total += rec.bytes_total
    lines = ["# HELP shifter_imagegw_images Catalogue records by system and status.",
             "# TYPE shifter_imagegw_images gauge"]
    lines += [f'shifter_imagegw_images{{system="{s}",status="{st}"}} {n}'
              for (s, st), n in sorted(by_status.items())]
    lines += ["# HELP shifter_imagegw_pull_bytes Bytes of in-progress pulls (done/total).",
              "# TYPE shifter_imagegw_pull_bytes gauge",
              f'shifter_imagegw_pull_bytes{{kind="done"}} {done}',
              f'shifter_imagegw_pull_bytes{{kind="total"}} {total}',
              "# HELP shifter_imagegw_requests_total Requests served by this worker process.",
              "# TYPE shifter_imagegw_requests_total counter"]
    pid = os.getpid()
    lines += [f'shifter_imagegw_requests_total{{route="{r}",code="{c}",worker="{pid}"}} {n}'
              for (r, c), n in sorted(counts.items())]
    return "\n".join(lines) + "\n"
