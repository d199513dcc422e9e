"""Session fixtures of the test bed (see ``testbed/``).

Every fixture starts what it needs lazily, shares daemons with concurrent
sessions through leases, and stops what it started when the session ends.
"""
from __future__ import annotations

import os
import time

import pytest

from testbed import lease, munge as tb_munge, users as tb_users


_UNATTRIBUTED_LEAKS: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def leak_check(tmp_path_factory):
    """After the session: no new image mount, loop device, squashfuse process, or orphaned daemon.

    While other pytest sessions run, only what names this session's temp dir is
    surely ours; the rest is reported in the terminal summary instead of failing.
    """
    if os.geteuid() != 0:  # unit-only runs: nothing of ours can be mounted or started
        yield
        return
    from testbed import leaks
    basetemp = str(tmp_path_factory.getbasetemp())
    before, orphans_before = leaks.snapshot(), set(leaks.orphan_daemons())

    def new_leaks() -> list[str]:
        return leaks.snapshot().minus(before) + [d for d in leaks.orphan_daemons() if d not in orphans_before]

    yield
    found = new_leaks()
    if found:
        time.sleep(0.5)  # lazy unmounts and exiting helpers get a moment
        found = new_leaks()
    if found and leaks.other_sessions():
        _UNATTRIBUTED_LEAKS.extend(item for item in found if basetemp not in item)
        found = [item for item in found if basetemp in item]
    if found:
        pytest.fail("left behind by the tests:\n  " + "\n  ".join(found), pytrace=False)


def pytest_terminal_summary(terminalreporter):
    if _UNATTRIBUTED_LEAKS:
        terminalreporter.section("leak check (other pytest sessions running: not failing)")
        for item in _UNATTRIBUTED_LEAKS:
            terminalreporter.line(item)


@pytest.fixture(scope="session")
def testbed_holder() -> str:
    """This session's lease holder name."""
    return lease.default_holder()


@pytest.fixture(scope="session")
def test_users() -> list[tb_users.User]:
    """The unprivileged users ``shifteruser`` and ``shifteruser2`` (records); /dev/fuse usable by them."""
    tb_users.enable_fuse()
    return tb_users.ensure_users()


@pytest.fixture(scope="session")
def munge(testbed_holder):
    """A working munged; yields its socket path."""
    daemon = tb_munge.up(testbed_holder)
    yield daemon.socket
    tb_munge.down(testbed_holder)


def _registry(name: str, holder: str):
    from testbed import registry as tb_registry
    reg = tb_registry.up(name, holder)
    yield reg
    tb_registry.down(name, holder)


@pytest.fixture(scope="session")
def registry(testbed_holder):
    """Registry without auth: ``.host`` 127.0.0.1:5000, ``.url`` http://127.0.0.1:5000."""
    yield from _registry("open", testbed_holder)


@pytest.fixture(scope="session")
def registry_auth(testbed_holder):
    """Registry with basic auth on 127.0.0.1:5001: ``.username``/``.password`` labuser/labpass."""
    yield from _registry("auth", testbed_holder)


@pytest.fixture(scope="session")
def images(registry):
    """``name -> "127.0.0.1:5000/test/...:tag"``; names: see ``testbed.images.REFS``. Pushed lazily."""
    from testbed.images import PushedImages
    return PushedImages(registry)


@pytest.fixture(scope="session")
def images_auth(registry_auth):
    """Like ``images`` but on the basic-auth registry 127.0.0.1:5001."""
    from testbed.images import PushedImages
    return PushedImages(registry_auth)


@pytest.fixture(scope="session")
def image_dir():
    """An image directory (mode 0755) with busybox installed: ``.path``, ``.ids``, ``.install("debian")``."""
    from testbed.images import ImageDir
    from testbed.paths import run_dir
    images_dir = ImageDir(run_dir("images"))
    images_dir.path.chmod(0o755)
    images_dir.install("busybox")
    return images_dir


@pytest.fixture(scope="session")
def slurm(munge, testbed_holder):
    """Factory: ``slurm(plugstack_lines=[...], prolog_flags="Alloc,Contain", proctrack=..., extra_conf=[...])``.

    Returns a running single-node :class:`testbed.slurm.Slurm` (``.env``, ``.conf_path``,
    ``.log_paths``, ``.run(args, user=...)``); restarted only when the requested config changes.
    """
    from testbed import slurm as tb_slurm
    from testbed.slurmconf import SlurmSpec

    used = []

    def get(plugstack_lines=(), prolog_flags="Alloc,Contain", proctrack="proctrack/linuxproc", extra_conf=()):
        spec = SlurmSpec(tuple(plugstack_lines), prolog_flags, proctrack, tuple(extra_conf))
        used.append(spec)
        return tb_slurm.up(testbed_holder, spec)

    yield get
    if used:
        tb_slurm.down(testbed_holder)


@pytest.fixture(scope="session")
def multinode(munge, testbed_holder):
    """Factory: ``multinode(plugstack_lines=[...], nodes=3, prolog_flags=..., ...)`` -> running
    :class:`testbed.multinode.MultiNode` (nodes n1..nN in their own net/UTS/mount namespaces;
    ``.run`` runs clients on the login node, ``.node_run(node, args)`` runs as root inside a node)."""
    from testbed import multinode as tb_multinode
    from testbed.slurmconf import SlurmSpec

    used = []

    def get(plugstack_lines=(), nodes=3, prolog_flags="Alloc,Contain", proctrack="proctrack/linuxproc",
            extra_conf=()):
        spec = SlurmSpec(tuple(plugstack_lines), prolog_flags, proctrack, tuple(extra_conf))
        used.append(spec)
        return tb_multinode.up(testbed_holder, spec, nodes)

    yield get
    if used:
        tb_multinode.down(testbed_holder)
