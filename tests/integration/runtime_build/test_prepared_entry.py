"""A container prepared by setupRoot is entered by the user's ``shifter`` (reuse)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.integration


def run_shifter(site, user, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "SHIFTER_CONFIG": str(site.conf),
           "PYTHONPATH": f"{REPO / 'runtime'}:{REPO / 'imagegw'}"}
    return subprocess.run(["runuser", "-u", user.name, "--", "env", *[f"{k}={v}" for k, v in
                           env.items()], sys.executable, "-m", "shifter_runtime.cli.shifter",
                           "-v", *args], capture_output=True, text=True, timeout=60, cwd="/")


def test_shifter_enters_the_prepared_container(site, user):
    bb = site.images.ids["plain"]
    site.setup("-u", user.name, "id", bb)
    ran = run_shifter(site, user, f"--image=id:{bb}", "--", "/bin/sh", "-c",
                      "id -u; cat /opt/app/hello; cat /var/shifterConfig.json; echo; "
                      "grep ^Cap /proc/self/status")
    assert ran.returncode == 0, ran.stderr
    assert "prepared container" in ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == str(user.uid)
    assert lines[1] == "hello from the image"
    assert lines[2] == (site.udi / "var/shifterConfig.json").read_text()
    caps = dict(line.split(":\t") for line in lines[3:])
    assert set(caps) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    assert all(int(v, 16) == 0 for v in caps.values()), caps
