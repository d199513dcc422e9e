"""Session fixtures of the test bed (see ``testbed/``).

Every fixture starts what it needs lazily, shares daemons with concurrent
sessions through leases, and stops what it started when the session ends.
"""
from __future__ import annotations

import pytest

from testbed import lease, munge as tb_munge, users as tb_users


@pytest.fixture(scope="session")
def holder() -> str:
    """This session's lease holder name."""
    return lease.default_holder()


@pytest.fixture(scope="session")
def test_users() -> list[tb_users.User]:
    """The unprivileged users ``shifteruser`` and ``shifteruser2`` (records)."""
    return tb_users.ensure_users()


@pytest.fixture(scope="session")
def munge(holder):
    """A working munged; yields its socket path."""
    tb_munge.enable_fuse()
    daemon = tb_munge.up(holder)
    yield daemon.socket
    tb_munge.down(holder)


def _registry(name: str, holder: str):
    from testbed import registry as tb_registry
    reg = tb_registry.up(name, holder)
    yield reg
    tb_registry.down(name, holder)


@pytest.fixture(scope="session")
def registry(holder):
    """Registry without auth: ``.host`` 127.0.0.1:5000, ``.url`` http://127.0.0.1:5000."""
    yield from _registry("open", holder)


@pytest.fixture(scope="session")
def registry_auth(holder):
    """Registry with basic auth on 127.0.0.1:5001: ``.username``/``.password`` labuser/labpass."""
    yield from _registry("auth", holder)
