"""OCI distribution client: manifests (v2s2, OCI, lists/indexes), auth, retries, verified blobs."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from urllib.parse import urljoin, urlsplit

import requests

from .layercache import DigestMismatch, LayerCache
from .reference import ImageRef

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+prettyjws",
           "application/vnd.docker.distribution.manifest.v1+json")
# Always offer every type: a registry asked without v2s2 converts to schema 1.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_V2])
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_V2, OCI_MANIFEST)
EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20
MAX_TOKEN = 1 << 20
CHUNK = 1 << 20


class RegistryError(Exception):
    """The registry refused, failed, or sent something invalid."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass
class ResolvedImage:
    """The selected platform's image manifest, its config, and its layers (bottom first)."""
    digest: str
    media_type: str
    manifest: dict
    config: dict
    layers: list[Descriptor]


def parse_platform(text: str) -> tuple[str, str, str | None]:
    """``os/arch[/variant]`` -> parts; raises on anything else."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise RegistryError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def select_platform(index: dict, platform: str) -> Descriptor:
    """Pick the manifest for ``platform`` from a manifest list / OCI index."""
    want_os, want_arch, want_variant = parse_platform(platform)
    candidates = []
    for entry in _entries(index):
        plat = _platform(entry)
        if plat.get("os") != want_os or plat.get("architecture") != want_arch:
            continue
        variant = plat.get("variant")
        if want_variant and variant != want_variant and not (want_variant == "v8" and variant is None):
            continue
        candidates.append((0 if variant in (None, want_variant) else 1, entry))
    if not candidates:
        offered = sorted({"/".join(str(v) for v in filter(None, (_platform(e).get(k) for k in
                                                                   ("os", "architecture", "variant"))))
                          for e in _entries(index) if isinstance(e.get("platform") or {}, dict)})
        raise RegistryError(f"no manifest for platform {platform} (offered: {', '.join(offered) or 'none'})")
    entry = sorted(candidates, key=lambda c: c[0])[0][1]
    return _descriptor(entry)


def _entries(index: dict) -> list[dict]:
    """The descriptors of a list/index (anything that is not an object is ignored)."""
    entries = index.get("manifests")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _platform(entry: dict) -> dict:
    """An index entry's ``platform`` object ({} when absent or not an object)."""
    plat = entry.get("platform")
    return plat if isinstance(plat, dict) else {}


def _descriptor(entry: dict) -> Descriptor:
    try:
        digest, size = entry["digest"], entry["size"]
    except (KeyError, TypeError):
        raise RegistryError(f"malformed descriptor {json.dumps(entry)[:120]}") from None
    if type(size) is not int or size < 0:
        raise RegistryError(f"descriptor {str(digest)[:80]!r} has no valid size ({str(size)[:40]!r})")
    if not re.match(r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$", str(digest)):
        raise RegistryError(f"unsupported or malformed digest {digest!r}")
    return Descriptor(str(entry.get("mediaType", "")), digest, size)


def _read_capped(resp: requests.Response, limit: int, what: str, timeout: float) -> bytes:
    """The body of a small document: at most ``limit`` bytes, all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    body = bytearray()
    with resp:
        try:
            for chunk in resp.iter_content(64 << 10):
                body += chunk
                if len(body) > limit:
                    raise RegistryError(f"{what} is larger than {limit} bytes")
                if time.monotonic() > deadline:
                    raise RegistryError(f"{what} took longer than {timeout:g} s")
        except requests.RequestException as err:
            raise RegistryError(f"{what}: {type(err).__name__} while reading") from None
    return bytes(body)


def _json_object(body: bytes, what: str) -> dict:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return doc


def _http_url(url: str, what: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise RegistryError(f"{what} {url[:200]!r} is not an http(s) URL")
    return url


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """One repository on one registry, with auth state shared by all requests of a pull."""

    def __init__(self, ref: ImageRef, *, credentials: tuple[str, str] | None = None,
                 timeout: float = 60.0, retries: int = 4, backoff: float = 0.5,
                 session: requests.Session | None = None, parallel: int = 3) -> None:
        self.ref = ref
        self.base = ref.registry_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.parallel = parallel
        self.session = session or requests.Session()
        self.verify: str | bool = True       # passed per request: REQUESTS_CA_BUNDLE must not override it
        if ref.sslcacert:
            if not Path(ref.sslcacert).is_file():
                raise RegistryError(f"Locations.{ref.location}.sslcacert: no such file {ref.sslcacert}")
            self.verify = ref.sslcacert
        self.authenticated = False
        self._auth: str | None = None
        if ref.auth_method == "basic" and credentials:
            self._set_basic()
        self._lock = Lock()

    # -- transport -------------------------------------------------------------------
    def _set_basic(self) -> None:
        user, password = self.credentials
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.authenticated = True

    def _send(self, method: str, url: str, headers: dict, stream: bool) -> requests.Response:
        """One request with manual redirects (auth dropped when the host changes) and retries."""
        attempt = 0
        while True:
            try:
                resp = self._follow(method, url, headers, stream)
            except (requests.ConnectionError, requests.Timeout) as err:
                if attempt >= self.retries:
                    raise RegistryError(f"{method} {url}: {type(err).__name__} after {attempt + 1} tries") from None
            except requests.RequestException as err:
                raise RegistryError(f"{method} {url}: {type(err).__name__}") from None
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    return resp
                if attempt >= self.retries:
                    resp.close()
                    raise RegistryError(f"{method} {url}: HTTP {resp.status_code} after {attempt + 1} tries")
                resp.close()
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def _follow(self, method: str, url: str, headers: dict, stream: bool) -> requests.Response:
        """Follow redirects by hand: http(s) only, Authorization only to the same scheme and host."""
        origin = urlsplit(url)[:2]
        hdrs = dict(headers)
        if self._auth:
            hdrs["Authorization"] = self._auth
        for _ in range(6):
            resp = self.session.request(method, url, headers=hdrs, stream=stream, timeout=self.timeout,
                                        allow_redirects=False, verify=self.verify)
            if resp.status_code not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
                return resp
            resp.close()
            url = _http_url(urljoin(url, resp.headers["Location"]), f"{method} redirect to")
            if urlsplit(url)[:2] != origin:
                hdrs.pop("Authorization", None)
        raise RegistryError(f"{method} {url}: too many redirects")

    def request(self, method: str, path: str, *, headers: dict | None = None,
                stream: bool = False) -> requests.Response:
        """Request ``/v2/<repo>/<path>``, authenticating on 401 (bearer: anonymous, then credentials)."""
        url = f"{self.base}/v2/{self.ref.repo}/{path}"
        headers = headers or {}
        tried_anonymous = tried_creds = False
        while True:
            resp = self._send(method, url, headers, stream)
            if resp.status_code not in (401, 403):
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.close()
            scheme, params = _parse_challenge(challenge)
            if scheme == "bearer" and "realm" in params:
                if not tried_anonymous and not self.authenticated:
                    tried_anonymous = True
                    if self._token(params, with_credentials=False):
                        continue
                if self.credentials and not tried_creds:
                    tried_creds = True
                    self._token(params, with_credentials=True)
                    continue
            elif scheme == "basic" and self.credentials and not tried_creds:
                tried_creds = True
                self._set_basic()
                continue
            what = "credentials were refused" if tried_creds else "authentication required"
            raise RegistryError(f"{self.ref.repo}: {what} (HTTP {resp.status_code})")

    def _token(self, params: dict[str, str], *, with_credentials: bool) -> bool:
        query = {k: params[k] for k in ("service", "scope") if k in params}
        if "scope" not in query:
            query["scope"] = f"repository:{self.ref.repo}:pull"
        auth = self.credentials if with_credentials else None
        realm = _http_url(params["realm"], "token realm")
        if auth and not self._may_send_credentials(realm):
            raise RegistryError(f"token realm {realm[:200]} is plain http on another host than {self.base}:"
                                " credentials are not sent there")
        try:
            resp = self.session.get(realm, params=query, auth=auth, timeout=self.timeout, verify=self.verify,
                                    stream=True)
        except requests.RequestException as err:
            raise RegistryError(f"token server {realm}: {type(err).__name__}") from None
        if resp.status_code != 200:
            resp.close()
        if resp.status_code in (401, 403):
            if with_credentials:
                raise RegistryError(f"token server {realm} refused the credentials (HTTP {resp.status_code})")
            return False
        if resp.status_code != 200:
            raise RegistryError(f"token server {realm}: HTTP {resp.status_code}")
        body = _json_object(_read_capped(resp, MAX_TOKEN, f"token server {realm} answer", self.timeout),
                            f"token server {realm} answer")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token or not token.isprintable():
            raise RegistryError(f"token server {realm}: no token in the answer")
        self._auth = f"Bearer {token}"
        if with_credentials:
            self.authenticated = True
        return True

    def _may_send_credentials(self, realm: str) -> bool:
        """Credentials go to an https realm, or over plain http only to the registry's own host."""
        url = urlsplit(realm)
        return url.scheme == "https" or url.hostname == urlsplit(self.base).hostname

    # -- manifests ---------------------------------------------------------------------
    def get_manifest(self, reference: str) -> tuple[str, str, dict]:
        """GET a manifest: (media type, digest of the body, parsed JSON), digest verified."""
        resp = self.request("GET", f"manifests/{reference}", headers={"Accept": ACCEPT}, stream=True)
        if resp.status_code != 200:
            resp.close()
        if resp.status_code == 404:
            raise RegistryError(f"manifest {reference} not found in {self.ref.repo}")
        if resp.status_code != 200:
            raise RegistryError(f"manifest {reference}: HTTP {resp.status_code}")
        body = _read_capped(resp, MAX_MANIFEST, f"manifest {reference}", self.timeout)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha"):
            algo, want = reference.split(":", 1)
            got = hashlib.new(algo, body).hexdigest()
            if got != want:
                raise RegistryError(f"manifest digest mismatch: asked {reference}, got {algo}:{got}")
            digest = reference
        doc = _json_object(body, f"manifest {reference}")
        mtype = doc.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0].strip()
        if mtype in SCHEMA1 or doc.get("schemaVersion") == 1:
            raise RegistryError(f"manifest {reference} is Docker schema 1, which is not supported")
        if not mtype and "manifests" in doc:
            mtype = OCI_INDEX
        elif not mtype and "layers" in doc:
            mtype = OCI_MANIFEST
        return mtype, digest, doc

    def resolve(self, platform: str = "linux/amd64") -> ResolvedImage:
        """Manifest (through a list/index if needed), config, and layers for ``platform``."""
        parse_platform(platform)
        mtype, digest, doc = self.get_manifest(self.ref.reference)
        if mtype in LISTS:
            chosen = select_platform(doc, platform)
            mtype, digest, doc = self.get_manifest(chosen.digest)
            if mtype in LISTS:
                raise RegistryError(f"nested manifest list at {chosen.digest}")
        if mtype not in IMAGES:
            raise RegistryError(f"unsupported manifest media type {mtype!r}")
        try:
            config_desc = _descriptor(doc["config"])
            layers = [_descriptor(layer) for layer in doc["layers"]]
        except (KeyError, TypeError):
            raise RegistryError("manifest lacks config or layers") from None
        config = _json_object(self.fetch_small_blob(config_desc), f"config {config_desc.digest}")
        if config.get("os") and config.get("architecture"):
            want_os, want_arch, _ = parse_platform(platform)
            if (config["os"], config["architecture"]) != (want_os, want_arch):
                raise RegistryError(f"image is {config['os']}/{config['architecture']}, not {platform}")
        layers = [d for d in layers if d.digest != EMPTY_LAYER]
        for layer in layers:
            if "foreign" in layer.media_type or "nondistributable" in layer.media_type:
                raise RegistryError(f"layer {layer.digest} is foreign/non-distributable ({layer.media_type})")
        return ResolvedImage(digest, mtype, doc, config, layers)

    # -- blobs -------------------------------------------------------------------------
    def fetch_small_blob(self, desc: Descriptor) -> bytes:
        """A config blob, of its declared size (at most MAX_CONFIG), digest verified."""
        if desc.size > MAX_CONFIG:
            raise RegistryError(f"blob {desc.digest} is larger than {MAX_CONFIG} bytes")
        resp = self.request("GET", f"blobs/{desc.digest}", stream=True)
        if resp.status_code != 200:
            resp.close()
            raise RegistryError(f"blob {desc.digest}: HTTP {resp.status_code}")
        body = _read_capped(resp, desc.size, f"blob {desc.digest}", self.timeout)
        algo, want = desc.digest.split(":", 1)
        if hashlib.new(algo, body).hexdigest() != want:
            raise RegistryError(f"blob {desc.digest}: digest mismatch")
        return body

    def fetch_blob(self, desc: Descriptor, cache: LayerCache, on_bytes: Callable[[int], None]) -> Path:
        """Download one blob into the cache, verified while streaming; retried on transport errors."""
        attempt = 0
        while True:
            sent = 0
            try:
                with cache.writer(desc.digest, desc.size) as out:
                    if out is None:                      # already cached
                        on_bytes(desc.size)
                        return cache.path(desc.digest)
                    resp = self.request("GET", f"blobs/{desc.digest}", stream=True)
                    if resp.status_code != 200:
                        resp.close()
                        raise RegistryError(f"blob {desc.digest}: HTTP {resp.status_code}")
                    with resp:
                        for chunk in resp.iter_content(CHUNK):
                            if sent + len(chunk) > desc.size:
                                raise RegistryError(f"blob {desc.digest}: more than the {desc.size} bytes"
                                                    " the manifest declares")
                            out.write(chunk)
                            sent += len(chunk)
                            on_bytes(len(chunk))
                return cache.path(desc.digest)
            except DigestMismatch as err:
                raise RegistryError(f"blob {desc.digest}: {err}") from None
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as err:
                on_bytes(-sent)
                if attempt >= self.retries:
                    raise RegistryError(f"blob {desc.digest}: {type(err).__name__} after {attempt + 1} tries") from None
            except requests.RequestException as err:
                raise RegistryError(f"blob {desc.digest}: {type(err).__name__}") from None
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def fetch_layers(self, layers: Iterable[Descriptor], cache: LayerCache,
                     progress: Callable[[int], None]) -> list[Path]:
        """Download all layers in parallel; returns their cache paths in manifest order."""
        layers = list(layers)
        done = 0

        def account(n: int) -> None:
            nonlocal done
            with self._lock:
                done += n
                now = done
            progress(now)

        if len(layers) <= 1 or self.parallel <= 1:
            return [self.fetch_blob(d, cache, account) for d in layers]
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(layers))) as pool:
            futures = [pool.submit(self.fetch_blob, d, cache, account) for d in layers]
            return [f.result() for f in futures]
