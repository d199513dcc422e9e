"""``shifter-imagegw`` start-up checks: never root, configuration validated first."""
import json
import subprocess

import pytest

from gwtest import PY, SRC_PATH

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
