"""``python -m testbed``: status reports services; up/down share daemons through leases."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _testbed(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHIFTER_TESTBED_HOLDER": f"cli-test-{os.getpid()}"}  # never touch a human's "cli" lease
    return subprocess.run([sys.executable, "-m", "testbed", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=env)


def test_up_then_down_keeps_the_sessions_registry(registry):
    up = _testbed("up", "--no-slurm")
    assert up.returncode == 0, up.stderr
    assert "image     127.0.0.1:5000/test/busybox:latest" in up.stdout
    status = _testbed("status").stdout
    assert "registry-open  running" in status and f"cli-test-{os.getpid()}" in status
    down = _testbed("down")
    assert down.returncode == 0, down.stderr
    assert "registry-open  running" in _testbed("status").stdout  # this session still holds it


def test_bad_command_is_an_error():
    proc = _testbed("sideways")
    assert proc.returncode == 2 and "invalid choice: 'sideways'" in proc.stderr
