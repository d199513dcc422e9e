"""``shifter`` entering a container prepared by ``setupRoot`` (the Slurm path)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _root_fstype(text: str) -> str:
    return next(line.split()[2] for line in text.splitlines() if line.split()[1] == "/")


def test_matching_request_enters_prepared_container(shifter, prepared):
    proc = shifter("shifteruser", "--image=id:plain", "sh", "-c",
                   "cat /proc/mounts; echo; cat /var/shifterConfig.json; echo; id -u; "
                   "grep -E '^Cap|NoNewPrivs' /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert _root_fstype(proc.stdout) == "tmpfs"
    assert ('{"identifier":"plain","user":"shifteruser","volMap":"","modules":""}'
            in proc.stdout)
    assert f"\n{prepared.uid}\n" in proc.stdout
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f"{name}:\t0000000000000000" in proc.stdout, proc.stdout
    assert "NoNewPrivs:\t1" in proc.stdout


def test_other_user_or_volumes_get_a_private_container(shifter, prepared):
    other = shifter("shifteruser2", "--image=id:plain", "cat", "/proc/mounts")
    assert other.returncode == 0, other.stderr
    assert _root_fstype(other.stdout) == "overlay"
    volume = shifter("shifteruser", "--image=id:plain", "--volume=/home:/data", "cat",
                     "/proc/mounts")
    assert volume.returncode == 0, volume.stderr
    assert _root_fstype(volume.stdout) == "overlay"
