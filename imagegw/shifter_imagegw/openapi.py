"""OpenAPI 3 description of the gateway's REST API (served at /openapi.json)."""
from __future__ import annotations

from typing import Any

from .importformats import IMPORT_FORMATS

MAX_METRICS = 100_000    # ``limit`` of /api/metrics

_RECORD = {
    "type": "object",
    "description": "Image record; a key absent from the catalogue reads \"MISSING\".",
    "properties": {
        "id": {"type": "string"}, "system": {"type": "string"}, "itype": {"type": "string"},
        "tag": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "enum": ["INIT", "PENDING", "PULLING", "EXAMINATION",
                                              "CONVERSION", "TRANSFER", "HASHING", "READY",
                                              "FAILURE", "EXPIRING", "EXPIRED"]},
        "userACL": {"type": "array", "items": {"type": "integer"}},
        "groupACL": {"type": "array", "items": {"type": "integer"}},
        "ENV": {"type": "array", "items": {"type": "string"}},
        "ENTRY": {}, "WORKDIR": {"type": "string"}, "LABELS": {"type": "object"},
        "last_pull": {"type": "number"}, "status_message": {"type": "string"},
    },
}
_ERROR = {"type": "object", "properties": {"status": {"type": "integer"},
                                           "error": {"type": "string"},
                                           "message": {"type": "string"}}}
_AUTH = [{"munge": []}, {}]


def _op(summary: str, ok: dict[str, Any], params: list[str], body: dict | None = None,
        errors: tuple[int, ...] = (401, 404)) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary, "security": _AUTH,
        "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                       for p in params],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
                      **{str(e): {"description": "Error", "content": {
                          "application/json": {"schema": _ERROR}}} for e in errors}},
    }
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def _metrics_op() -> dict[str, Any]:
    op = _op("Last lookups (admin; [] for others)", {"type": "array"}, ["system"],
             errors=(400, 401, 404))
    op["parameters"].append({"name": "limit", "in": "query", "required": False,
                             "schema": {"type": "integer", "default": 10, "minimum": 0,
                                        "maximum": MAX_METRICS}})
    return op


def openapi_document() -> dict[str, Any]:
    img = ["system", "itype", "tag"]
    acl = {"type": "object", "properties": {
        "allowed_uids": {"type": "string", "example": "1000,1001"},
        "allowed_gids": {"type": "string", "example": "100"}}}
    imp = {"type": "object", "required": ["filepath", "format"], "properties": {
        "filepath": {"type": "string"}, "format": {"type": "string", "enum": list(IMPORT_FORMATS)},
        **acl["properties"]}}
    lst = {"type": "object", "properties": {"list": {"type": "array", "items": _RECORD}}}
    status = {"type": "object", "properties": {"status": {}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shifter image gateway", "version": "1"},
        "components": {"securitySchemes": {"munge": {
            "type": "apiKey", "in": "header", "name": "authentication",
            "description": "A munge credential; payload may be "
                           "{\"authorized_locations\": {\"<location>|default\": \"user:password\"}}"}}},
        "paths": {
            "/api/list/{system}/": {"get": _op("Images visible to the caller", lst, ["system"])},
            "/api/lookup/{system}/{itype}/{tag}/": {"get": _op("Resolve a tag", _RECORD, img)},
            "/api/pull/{system}/{itype}/{tag}/": {"post": _op(
                "Start or poll a pull", _RECORD, img, acl, (400, 401, 404))},
            "/api/doimport/{system}/{itype}/{tag}/": {"post": _op(
                "Import a squashfs file (ImportUsers)", _RECORD, img, imp, (400, 401, 403, 404))},
            "/api/expire/{system}/{itype}/{tag}/": {"get": _op("Expire an image (admin)", status, img)},
            "/api/autoexpire/{system}/": {"get": _op("Expire old images (admin)", status, ["system"])},
            "/api/metrics/{system}/": {"get": _metrics_op()},
            "/api/login/{system}/{location}/": {"post": _op(
                "Check the payload's registry credentials for a location", {
                    "type": "object", "properties": {"ok": {"type": "boolean"},
                                                     "message": {"type": "string"}}},
                ["system", "location"], errors=(400, 401, 404))},
            "/api/queue/{system}/": {"get": _op("Requests not yet READY", {
                "type": "object", "properties": {"list": {"type": "array"}}}, ["system"])},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition"}}}},
        },
    }
