"""Fixtures of the Slurm plugin tests: the site and a cluster running shifter_slurm.so."""
from __future__ import annotations

from pathlib import Path

import pytest

from slurmsite import Site, write_config


@pytest.fixture(scope="session")
def site(image_dir, test_users) -> Site:
    from testbed.paths import run_dir

    base = run_dir("slurm-site")
    config = write_config(base, Path(image_dir.path))
    return Site(base, config, base / "udiMount", base / "loopMount", Path(image_dir.path),
                image_dir.install("busybox"))


@pytest.fixture
def cluster(slurm, site):
    """The single-node cluster with the plugin (default plugstack arguments)."""
    cl = slurm(plugstack_lines=site.plugstack())
    cl.resume()
    yield cl
    assert site.settle() == [], "the node was not left clean"


@pytest.fixture
def user_dir():
    """A scratch directory the test user can write (pytest's tmp_path is root-only)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="shifter-slurm-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
