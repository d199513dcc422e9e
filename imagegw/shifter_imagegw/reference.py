"""Image references (``[location/]repo[:tag][@digest]``) and registry ``Locations``."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")


class ReferenceError(ValueError):
    """The reference or a ``Locations`` entry is malformed."""


@dataclass(frozen=True)
class Location:
    """One ``Locations.<name>`` entry of imagemanager.json."""
    name: str
    url: str
    sslcacert: str | None = None
    auth_method: str = "token"            # token | basic
    remotetype: str = "dockerv2"

    @classmethod
    def from_config(cls, name: str, cfg: Mapping) -> "Location":
        url = cfg.get("url") or f"https://{name}"
        if not re.match(r"^https?://[^/]+", url):
            raise ReferenceError(f"Locations.{name}.url: not an http(s) URL: {url!r}")
        method = cfg.get("authMethod", "token")
        if method not in ("token", "basic"):
            raise ReferenceError(f"Locations.{name}.authMethod: must be 'token' or 'basic', not {method!r}")
        rtype = cfg.get("remotetype", "dockerv2")
        if rtype != "dockerv2":
            raise ReferenceError(f"Locations.{name}.remotetype: only 'dockerv2' is supported, not {rtype!r}")
        return cls(name, url.rstrip("/"), cfg.get("sslcacert") or None, method, rtype)


@dataclass(frozen=True)
class ImageRef:
    """A resolved reference: where to fetch (``registry_url``) and what (repo, tag/digest)."""
    location: str            # Locations key, or the registry host
    registry_url: str
    repo: str
    tag: str | None
    digest: str | None
    sslcacert: str | None = None
    auth_method: str = "token"

    @property
    def reference(self) -> str:
        """The tag or digest used in the manifest URL (digest wins)."""
        return self.digest or self.tag or "latest"

    @property
    def display(self) -> str:
        text = f"{self.location}/{self.repo}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _is_loopback(host: str) -> bool:
    bare = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return bare in ("localhost", "[::1]") or bare.startswith("127.")


def _location_for(name: str, locations: Mapping[str, Location | Mapping]) -> Location | None:
    if name not in locations:
        return None
    loc = locations[name]
    return loc if isinstance(loc, Location) else Location.from_config(name, loc)


def parse_reference(text: str, locations: Mapping[str, Location | Mapping] | None = None,
                    default_location: str = DOCKER_HUB) -> ImageRef:
    """Parse ``[docker:][location/]repo[:tag][@digest]`` against the ``Locations`` config.

    The first path component is a location when it is a ``Locations`` key, or a registry host
    when it contains ``.`` or ``:`` or is ``localhost``; otherwise ``default_location`` applies.
    Docker Hub names get ``library/`` for single-component repos.
    """
    locations = locations or {}
    raw = text.strip()
    if raw.startswith("docker:") and not raw.startswith("docker://"):
        raw = raw[len("docker:"):]
    if not raw or any(c.isspace() for c in raw):
        raise ReferenceError(f"invalid image reference {text!r}: empty or contains whitespace")
    name, digest = raw, None
    if "@" in raw:
        name, digest = raw.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ReferenceError(f"invalid image reference {text!r}: bad digest {digest!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ReferenceError(f"invalid image reference {text!r}: bad tag {tag!r}")
    if tag is None and digest is None:
        tag = "latest"
    first, sep, rest = name.partition("/")
    loc = _location_for(first, locations) if sep else None
    if loc is not None:
        location, repo = loc, rest
    elif sep and (first in _HUB_ALIASES or "." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.match(first):
            raise ReferenceError(f"invalid image reference {text!r}: bad registry host {first!r}")
        host = DOCKER_HUB if first in _HUB_ALIASES else first
        location = Location(first, ("http://" if _is_loopback(host) else "https://") + host)
        repo = rest
    else:
        location = _location_for(default_location, locations)
        if location is None:
            host = DOCKER_HUB if default_location in _HUB_ALIASES else default_location
            location = Location(default_location, ("http://" if _is_loopback(host) else "https://") + host)
        repo = name
    if _is_hub(location.url) and "/" not in repo:
        repo = f"library/{repo}"
    if not _REPO_RE.match(repo):
        raise ReferenceError(f"invalid image reference {text!r}: bad repository name {repo!r}")
    return ImageRef(location.name, location.url, repo, tag, digest, location.sslcacert, location.auth_method)


def _is_hub(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
    return host.endswith("docker.io")
