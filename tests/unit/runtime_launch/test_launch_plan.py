"""The launch plan setupRoot leaves for shifter: when it fits, and that it then
chooses exactly what the full launch would."""
from __future__ import annotations

import os

import pytest

from shifter_runtime import launchenv
from shifter_runtime.config import ModuleConfig, UdiRootConfig
from shifter_runtime.environment import build_environment, layer_edits
from shifter_runtime.imagespec import select_image
from shifter_runtime.launch import prepared as planmod

pytestmark = pytest.mark.unit

IDENT = "a" * 64
PLAN = {"uid": 1001, "image": IDENT}


@pytest.fixture
def plan_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(planmod, "PLAN_DIR", str(tmp_path / "launch"))
    return tmp_path / "launch"


def test_plan_file_names_the_config_path_unambiguously():
    assert planmod.plan_file("/etc/shifter/udiRoot.conf") == \
        "/run/shifter/launch/%2Fetc%2Fshifter%2FudiRoot.conf"
    assert planmod.plan_file("/a%2Fb") != planmod.plan_file("/a/b")


@pytest.mark.parametrize("environ, request_text", [
    ({"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": IDENT}, f"id:{IDENT}"),
    ({"SHIFTER_IMAGETYPE": " id ", "SHIFTER_IMAGE": f"{IDENT}\n"}, f"id:{IDENT}"),
    ({"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": IDENT,
      "SHIFTER_IMAGEREQUEST": " docker:ubuntu:22.04 "}, "docker:ubuntu:22.04"),
    ({"SLURM_SPANK_SHIFTER_IMAGETYPE": "id", "SLURM_SPANK_SHIFTER_IMAGE": IDENT,
      "SLURM_SPANK_SHIFTER_IMAGEREQUEST": "ubuntu:22.04"}, "ubuntu:22.04"),
])
def test_a_pinned_environment_fits_and_names_the_request_as_select_image_does(
        environ, request_text):
    assert planmod.accepts(PLAN, ["true"], environ, 1001) == request_text
    chosen = select_image(None, environ, UdiRootConfig())
    assert (str(chosen.spec), chosen.request) == (f"id:{IDENT}", request_text)


@pytest.mark.parametrize("argv, environ, uid", [
    ([], {}, 1001),                                             # no command: $SHELL rules
    (["--verbose", "true"], {}, 1001),                          # any option
    (["-", "x"], {}, 1001),
    (["true"], {}, 1002),                                       # another user
    (["true"], {}, 0),                                          # root
    (["true"], {"SHIFTER_VOLUME": "/a:/b"}, 1001),              # volumes
    (["true"], {"SLURM_SPANK_SHIFTER_VOLUME": "/a:/b"}, 1001),
    (["true"], {"SHIFTER_VOLUME": ""}, 1001),                   # refused by the full launch
    (["true"], {"SHIFTER_MODULE": ""}, 1001),                   # any module request
    (["true"], {"SLURM_SPANK_SHIFTER_MODULE": "none"}, 1001),
    (["true"], {"SHIFTER_IMAGETYPE": "docker"}, 1001),          # a tag: needs the gateway
    (["true"], {"SHIFTER_IMAGE": "b" * 64}, 1001),              # another image
    (["true"], {"SHIFTER_IMAGETYPE": "", "SLURM_SPANK_SHIFTER_IMAGETYPE": "id"}, 1001),
    (["true"], {"SHIFTER_IMAGETYPE": None, "SHIFTER_IMAGEREQUEST": f"id:{IDENT}"}, 1001),
])
def test_anything_else_takes_the_full_launch(argv, environ, uid):
    env = {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": IDENT, **environ}
    env = {k: v for k, v in env.items() if v is not None}
    assert planmod.accepts(PLAN, argv, env, uid) is None


def test_plan_edits_give_the_full_launch_environment():
    module = ModuleConfig("m", site_env=[("M", "1")], site_env_prepend=[("PATH", "/m/bin")],
                          site_env_unset=["DROP"])
    config = UdiRootConfig(site_env=[("S", "2")], site_env_append=[("PATH", "/s/bin")],
                           site_env_unset=["LEAVE"])
    image_env = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "BROKEN"]
    caller = {"HOME": "/h", "DROP": "x", "LD_PRELOAD": "/evil.so", "TMPDIR": "/t",
              "PATH": "/host/bin", "LEAVE": "y"}
    edits = layer_edits(image_env=image_env, modules=[module], config=config)
    planned = launchenv.apply_edits(launchenv.caller_base(caller, "req", IDENT), edits)
    assert planned == build_environment(caller, clearenv=False, image_request="req",
                                        image_id=IDENT, image_env=image_env,
                                        modules=[module], config=config)
    assert planned == {"HOME": "/h", "SHIFTER_IMAGEREQUEST": "req", "SHIFTER_IMAGE": IDENT,
                       "PATH": "/m/bin:/usr/bin:/bin:/s/bin", "LANG": "C.UTF-8", "M": "1",
                       "S": "2"}


def test_written_plans_load_back_and_configs_are_identified(plan_dir, tmp_path):
    conf = tmp_path / "udiRoot.conf"
    conf.write_text("udiMount=/x\n")
    data = planmod.encode_plan(config_path=str(conf), udi_mount="/x", state_file="/x/s",
                               state=b"{}", uid=5, image=IDENT, edits=[("set", "A", "1")])
    planmod.write_plan(str(conf), data)
    loaded = planmod.load_plan(str(conf))
    assert loaded["config"] == planmod.config_identity(str(conf))
    assert (loaded["uid"], loaded["edits"], loaded["state"]) == (5, [("set", "A", "1")], b"{}")
    assert oct(plan_dir.stat().st_mode & 0o777) == "0o755"
    conf.write_text("udiMount=/y\n")
    assert planmod.config_identity(str(conf)) != loaded["config"]
    planmod.write_plan(str(conf), None)
    assert planmod.load_plan(str(conf)) is None
    planmod.remove_plan(str(conf))  # nothing there: no error
    assert planmod.encode_plan(config_path=str(tmp_path / "missing"), udi_mount="/x",
                               state_file="/x/s", state=b"", uid=5, image=IDENT,
                               edits=[]) is None


@pytest.mark.parametrize("damage", ["not-root", "group-writable", "garbage", "old-version",
                                    "symlink", "directory", "fifo"])
def test_plans_that_are_not_roots_or_not_plans_are_ignored(plan_dir, tmp_path, damage):
    if os.geteuid() != 0 and damage != "garbage":
        pytest.skip("needs root to make root-owned plans")
    conf = str(tmp_path / "udiRoot.conf")
    plan_dir.mkdir()
    path = planmod.plan_file(conf)
    body = {"version": planmod.VERSION, "uid": 1}
    if damage == "old-version":
        body["version"] = planmod.VERSION - 1
    import marshal
    with open(path, "wb") as f:
        f.write(b"\x00garbage" if damage == "garbage" else marshal.dumps(body))
    if damage == "not-root":
        os.chown(path, 65534, 65534)
    elif damage == "group-writable":
        os.chmod(path, 0o664)
    elif damage == "symlink":
        os.rename(path, f"{path}.real")
        os.symlink(f"{path}.real", path)
    elif damage in ("directory", "fifo"):  # root's, but not a file: no read (a fifo would block)
        os.unlink(path)
        os.mkdir(path, 0o755) if damage == "directory" else os.mkfifo(path, 0o644)
    assert planmod.load_plan(conf) is None
