"""``shifter-imagegw`` start-up checks: never root, configuration validated first."""
import json
import os
import subprocess

import pytest

from gwtest import PY, SRC_PATH
from testbed.paths import PREFIX

pytestmark = pytest.mark.integration


def serve(*args, user=None):
    kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    return subprocess.run([PY, "-m", "shifter_imagegw.serve", *args], capture_output=True,
                          text=True, timeout=60, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC_PATH}, **kw)


def test_refuses_root(tmp_path):
    res = serve("-c", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "refusing to run as root" in res.stderr


def test_bad_config_names_the_key(gw_root, gw_user):
    cfg = gw_root / "imagemanager.json"
    cfg.write_text(json.dumps({"Platforms": {"lab": {"accesstype": "nfs"}}}))
    cfg.chmod(0o644)
    res = serve("-c", str(cfg), user=gw_user)
    assert res.returncode == 1
    assert res.stderr.strip() == (f'shifter-imagegw: {cfg}: Platforms.lab.accesstype: must be '
                                  f'"local" or "remote", got \'nfs\'')
    res = serve("-c", str(gw_root / "missing.json"), user=gw_user)
    assert res.returncode == 1 and "missing.json: cannot read" in res.stderr


@pytest.mark.parametrize("option", ["--workers", "--threads", "--connections"])
def test_counts_below_one_are_refused(gw_root, gw_user, option):
    cfg = gw_root / "imagemanager.json"
    cfg.write_text(json.dumps({"Platforms": {"lab": {"accesstype": "local",
                                                      "local": {"imageDir": str(gw_root)}}}}))
    cfg.chmod(0o644)
    res = serve("-c", str(cfg), option, "0", user=gw_user)
    assert (res.returncode, res.stderr) == (1, f"shifter-imagegw: {option} must be >= 1\n")


def test_start_up_sweeps_leftovers_of_a_killed_gateway(gateway_factory, gw_root, gw_user):
    expand, images = gw_root / "state" / "expand", gw_root / "images"
    ident = "cd" * 32
    made = [expand / f"{ident[:16]}.x1.convert" / "rootfs", expand / f"{ident[:16]}.y2.import",
            images / f".{ident}.squashfs.abcd1234.partial", images / f".{ident}.meta.efgh5678.partial",
            images / f"{ident}.squashfs"]
    made[0].mkdir(parents=True)
    made[1].mkdir()
    for path in made[2:]:
        path.write_text("x")
    os.utime(made[2], (1, 1))                  # an hour-old partial file goes, a young one stays
    subprocess.run(["chown", "-R", f"{gw_user.pw_uid}:{gw_user.pw_gid}", str(gw_root / "state"),
                    str(images)], check=True)
    gw = gateway_factory()
    assert list(expand.iterdir()) == []
    assert sorted(p.name for p in images.iterdir()) == sorted(p.name for p in made[3:])
    assert "removed 3 leftover(s) of an interrupted run" in gw.log()


def test_installed_systemd_unit_verifies():
    """The unit install.sh puts in <prefix>/share/systemd passes systemd's own checks and
    starts the installed gateway as the unprivileged service user."""
    unit = f"{PREFIX}/share/systemd/shifter-imagegw.service"
    done = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    settings = dict(line.split("=", 1) for line in open(unit).read().splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["User"] == "shiftergw" and settings["NoNewPrivileges"] == "yes"
    assert settings["ExecStart"].split()[0] == f"{PREFIX}/bin/shifter-imagegw"
    assert settings["CapabilityBoundingSet"] == ""
