"""Two test sessions that each want a new cluster spec do not wait on each other."""
from __future__ import annotations

import threading
import time

import pytest

from testbed import lease
from testbed import slurm as tb_slurm

pytestmark = pytest.mark.unit
SERVICE = "spec-wait-test"


def test_sessions_wanting_other_specs_take_turns_instead_of_deadlocking(monkeypatch, tmp_path):
    """a and b both hold the running spec X; a then wants Y and b wants Z.  Each
    used to keep its own lease while waiting for the other's: both waited out
    SPEC_WAIT.  Now one runs its spec, then the other."""
    monkeypatch.setenv("SHIFTER_TESTBED_RUN", str(tmp_path))
    running = {"spec": "X"}
    monkeypatch.setattr(tb_slurm, "_is_current", lambda layout, spec: running["spec"] == spec)
    monkeypatch.setattr(tb_slurm, "_write", lambda layout, spec: running.update(spec=spec))
    monkeypatch.setattr(tb_slurm, "SPEC_WAIT", 10)
    with lease.locked(SERVICE):
        lease.take(SERVICE, "a")
        lease.take(SERVICE, "b")
    used: list[tuple[str, str]] = []

    def session(holder: str, spec: str) -> None:
        tb_slurm.acquire(holder, None, spec, SERVICE, start_fn=lambda _: None,
                         stop_fn=lambda _: None)
        used.append((holder, running["spec"]))
        time.sleep(0.2)  # its tests run on the cluster
        with lease.locked(SERVICE):
            lease.give(SERVICE, holder)

    threads = [threading.Thread(target=session, args=args) for args in (("a", "Y"), ("b", "Z"))]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(8)
    assert sorted(used) == [("a", "Y"), ("b", "Z")]
    assert time.monotonic() - start < 5
