"""Where the test bed keeps its state (run dir) and slow artefacts (cache dir), and
which installed Shifter the tests run (prefix)."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_RUN = "/run/shifter-testbed"
DEFAULT_CACHE = "/var/cache/shifter-tests"
# The installed Shifter the integration tests run (``SHIFTER_TEST_PREFIX``).
PREFIX = Path(os.environ.get("SHIFTER_TEST_PREFIX", "/opt/shifter"))


def run_dir(*parts: str) -> Path:
    """A directory under the run dir (``SHIFTER_TESTBED_RUN``), created 0755."""
    path = Path(os.environ.get("SHIFTER_TESTBED_RUN", DEFAULT_RUN), *parts)
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """A directory under the cache dir (``SHIFTER_TEST_CACHE``), created 0755."""
    path = Path(os.environ.get("SHIFTER_TEST_CACHE", DEFAULT_CACHE), *parts)
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    return path
