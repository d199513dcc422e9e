"""Push stored blobs and manifests to a registry (Docker registry HTTP API v2)."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from testbed import oci
from testbed.procs import TestbedError
from testbed.registry import Registry


def _request(reg: Registry, method: str, url: str, data=None, headers: dict | None = None, length: int | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers={**reg.headers(), **(headers or {})})
    if length is not None:
        req.add_header("Content-Length", str(length))
    try:
        return urllib.request.urlopen(req, timeout=120)
    except urllib.error.HTTPError as err:
        if method == "HEAD" and err.code == 404:
            return None
        raise TestbedError(f"{method} {url}: HTTP {err.code}: {err.read()[:200]!r}") from None


def has_blob(reg: Registry, repo: str, digest: str) -> bool:
    with_resp = _request(reg, "HEAD", f"{reg.url}/v2/{repo}/blobs/{digest}")
    if with_resp is None:
        return False
    with_resp.close()
    return True


def push_blob(reg: Registry, repo: str, digest: str) -> None:
    """Upload one stored blob unless the registry has it."""
    if has_blob(reg, repo, digest):
        return
    start = _request(reg, "POST", f"{reg.url}/v2/{repo}/blobs/uploads/", data=b"")
    location = urllib.parse.urljoin(reg.url, start.headers["Location"])
    start.close()
    sep = "&" if "?" in location else "?"
    path = oci.blob_path(digest)
    with open(path, "rb") as body:
        _request(reg, "PUT", f"{location}{sep}digest={digest}", data=body,
                 headers={"Content-Type": "application/octet-stream"}, length=path.stat().st_size).close()


def push_manifest(reg: Registry, repo: str, ref: str, body: bytes, media_type: str) -> str:
    """Push the blobs a manifest (or index) references, then the manifest; return its digest."""
    doc = json.loads(body)
    if media_type == oci.OCI_INDEX:
        for child in doc["manifests"]:
            data = oci.blob_path(child["digest"]).read_bytes()
            push_manifest(reg, repo, child["digest"], data, child["mediaType"])
    else:
        for desc in [doc["config"], *doc["layers"]]:
            push_blob(reg, repo, desc["digest"])
    _request(reg, "PUT", f"{reg.url}/v2/{repo}/manifests/{ref}", data=body,
             headers={"Content-Type": media_type}).close()
    return oci.digest_of(body)
