"""Submit-time pinning: the tag is resolved through the real gateway as the user, once."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from slurmsite import SHIFTER, USER, Site, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "imagegw_service"))


@pytest.fixture
def gateway(munge, registry, test_users):
    from gwtest import GW_USER, Gateway
    import pwd

    try:
        user = pwd.getpwnam(GW_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", GW_USER],
                       check=True)
        user = pwd.getpwnam(GW_USER)
    root = Path(tempfile.mkdtemp(prefix="shifter-slurm-gw-"))
    root.chmod(0o755)
    for name in ("images", "state"):
        (root / name).mkdir()
        os.chown(root / name, user.pw_uid, user.pw_gid)
    (root / "images").chmod(0o755)
    gw = Gateway(root, user, registry.url, {"PullUpdateTimeout": 0}).start()
    yield gw
    gw.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def gw_site(gateway):
    from testbed.paths import run_dir

    base = run_dir("slurm-site-gw")
    config = write_config(base, gateway.root / "images")
    text = config.read_text().replace("imageGateway=http://127.0.0.1:5050", f"imageGateway={gateway.url}")
    config.write_text(text.replace("system=testsystem", "system=lab"))
    return Site(base, config, base / "udiMount", base / "loopMount", gateway.root / "images", "")


def point_tag(registry, gateway, name: str, previous: str | None = None) -> str:
    """Make test/pin:latest the test image ``name``; pull it; return its new gateway id."""
    import time

    from testbed.images import build
    from testbed.push import push_manifest

    built = build(name)
    push_manifest(registry, "test/pin", "latest", built.body, built.media_type)
    assert gateway.post("/api/pull/lab/docker/test/pin:latest/").status_code == 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        resp = gateway.get("/api/lookup/lab/docker/test/pin:latest/")
        rec = resp.json() if resp.status_code == 200 else {}
        if rec.get("status") == "READY" and rec.get("id") != previous:
            return rec["id"]
        time.sleep(0.2)
    raise AssertionError(f"test/pin:latest never became READY as a new id: {rec}")


def test_job_runs_the_image_pinned_at_submission(slurm, gw_site, gateway, registry, user_dir):
    cluster = slurm(plugstack_lines=gw_site.plugstack())
    cluster.resume()
    old = point_tag(registry, gateway, "busybox")
    out = user_dir / "out"
    script = f"printenv SHIFTER_IMAGE SHIFTER_IMAGEREQUEST; srun printenv SHIFTER_IMAGE; srun {SHIFTER} cat /etc/os-release"
    job = cluster.run(["sbatch", "--parsable", "--hold", "--exclusive", "-o", str(out),
                       "--image=test/pin:latest", "--wrap", script], user=USER, check=True).stdout.strip()
    new = point_tag(registry, gateway, "busybox-oci", previous=old)
    assert new != old, "re-pushing the tag did not move it"
    cluster.run(["scontrol", "release", job], check=True)
    assert cluster.wait_job(job) == "COMPLETED", out.read_text() if out.exists() else ""
    lines = out.read_text().splitlines()
    assert lines[:3] == [old, "test/pin:latest", old], "the job did not run the id pinned at submission"
    assert any("busybox" in line for line in lines[3:]), lines
    assert gw_site.settle() == []


def test_unknown_image_fails_the_submission(slurm, gw_site, gateway):
    cluster = slurm(plugstack_lines=gw_site.plugstack())
    proc = cluster.run(["sbatch", "--image=test/nothere:latest", "--wrap", "true"], user=USER)
    assert proc.returncode != 0
    assert ("error: shifter: --image docker:test/nothere:latest: no such image; "
            "run 'shifterimg pull docker:test/nothere:latest'") in proc.stderr
