"""Fixtures of the gateway service tests (see gwtest.py)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gwtest import GW_USER, Gateway, RegistryProxy


@pytest.fixture(scope="session")
def gw_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(GW_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "-M", "-d", "/nonexistent", "-s",
                        "/usr/sbin/nologin", GW_USER], check=True)
        return pwd.getpwnam(GW_USER)


@pytest.fixture
def gw_root(gw_user):
    root = Path(tempfile.mkdtemp(prefix="shifter-gwtest-", dir="/tmp"))
    root.chmod(0o755)
    for name in ("images", "state"):
        (root / name).mkdir()
        os.chown(root / name, gw_user.pw_uid, gw_user.pw_gid)
    (root / "images").chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def gateway_factory(gw_root, gw_user, munge, registry):
    made: list[Gateway] = []

    def make(registry_url: str | None = None, extra: dict | None = None,
             workers: int = 3) -> Gateway:
        gw = Gateway(gw_root, gw_user, registry_url or registry.url, extra, workers)
        made.append(gw)
        return gw.start()
    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()


@pytest.fixture
def registry_proxy(registry):
    proxy = RegistryProxy(registry.url)
    yield proxy
    proxy.close()

