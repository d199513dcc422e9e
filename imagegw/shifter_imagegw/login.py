"""Check registry credentials for ``shifterimg login`` (upstream never did, #321).

The gateway is the only component that talks to registries, so the client
sends the credentials inside its munge payload and the gateway tries them on
the registry's ``/v2/`` endpoint: basic auth, or a bearer token from the
realm the registry names.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _registry(location: str, locations: Mapping[str, Any], default: str) -> tuple[str, str | None]:
    from .reference import parse_reference
    probe = "probe/probe:latest" if location == "default" else f"{location}/probe/probe:latest"
    ref = parse_reference(probe, locations, default)
    return ref.registry_url.rstrip("/"), ref.sslcacert


def check_login(location: str, secret: str, locations: Mapping[str, Any], default: str,
                timeout: float = 20.0) -> tuple[bool, str]:
    """(accepted, message) for ``user:password`` on *location*."""
    import requests
    from .reference import ReferenceError
    from .registry import _parse_challenge

    user, sep, password = secret.partition(":")
    if not sep or not user:
        return False, "credentials are not user:password"
    try:
        base, cacert = _registry(location, locations, default)
    except ReferenceError as exc:
        return False, str(exc)
    verify: Any = cacert or True
    try:
        first = requests.get(f"{base}/v2/", timeout=timeout, verify=verify, allow_redirects=False)
        if first.status_code == 200:
            return True, f"{base} needs no credentials"
        if first.status_code != 401:
            return False, f"{base}/v2/: HTTP {first.status_code}"
        scheme, params = _parse_challenge(first.headers.get("WWW-Authenticate", ""))
        if scheme == "bearer" and params.get("realm", "").startswith(("http://", "https://")):
            query = {k: params[k] for k in ("service", "scope") if k in params}
            resp = requests.get(params["realm"], params=query, auth=(user, password),
                                timeout=timeout, verify=verify)
        else:
            resp = requests.get(f"{base}/v2/", auth=(user, password), timeout=timeout,
                                verify=verify, allow_redirects=False)
    except requests.RequestException as exc:
        return False, f"{base}: {type(exc).__name__}"
    if resp.status_code == 200:
        return True, f"credentials accepted by {base}"
    return False, f"credentials refused by {base} (HTTP {resp.status_code})"
