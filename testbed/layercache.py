"""Cache of built layers, keyed by a hash of the recipe's inputs."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from testbed import lease

from testbed.oci import Layer, blob_path
from testbed.paths import cache_dir
from testbed.procs import run

RECIPE_VERSION = "1"  # bump when any recipe changes


def pkg_version(pkg: str) -> str:
    """The installed version of a Debian package (a cache input)."""
    return run(["dpkg-query", "-W", "-f=${Version}", pkg]).stdout


def cached_layers(name: str, inputs: list[str], build: Callable[[], list[Layer]]) -> list[Layer]:
    """Layers of ``name`` from the cache (keyed by ``inputs``), else ``build()`` them."""
    key = hashlib.sha256("|".join([RECIPE_VERSION, name, *inputs]).encode()).hexdigest()[:16]
    record = cache_dir("layers") / f"{name}-{key}.json"
    layers = _load(record)
    if layers is None:
        with lease.locked(f"build-{name}"):  # one builder at a time; the others reuse its result
            layers = _load(record)
            if layers is None:
                layers = build()
                tmp = record.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps([asdict(layer) for layer in layers]))
                tmp.replace(record)
    return layers


def _load(record: Path) -> list[Layer] | None:
    if not record.exists():
        return None
    layers = [Layer(**item) for item in json.loads(record.read_text())]
    return layers if all(blob_path(layer.digest).exists() for layer in layers) else None
