"""A container prepared by setupRoot is entered by the user's ``shifter`` (reuse)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from shifter_runtime.launch.prepared import plan_file

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


# What the prepared launch may load: the plan, the environment layers and the
# launch steps.  The full launch loads these too, plus os, the config parser...
LEAN = {"shifter_runtime", "shifter_runtime.launchenv",
        "shifter_runtime.launch", "shifter_runtime.launch.prepared", "shifter_runtime.kernel",
        "shifter_runtime.kernel.libc", "shifter_runtime.launch.enter",
        "shifter_runtime.launch.execute", "_ctypes", "errno"}
PROBE = ("id -u; pwd; env | sort; cat /var/shifterConfig.json; echo; "
         "grep ^Cap /proc/self/status; grep NoNewPrivs /proc/self/status")


def run_entry(site, user, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, set]:
    """``shifter args...`` through the installed command's entry point (``python -IS``,
    as the launcher runs it), with ``-X importtime``: returns the run and the
    modules it imported beyond the interpreter's own start-up."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'runtime')!r}); "
            "from shifter_runtime.launch.prepared import main; sys.exit(main())")
    base = {"PATH": "/usr/bin:/bin", "SHIFTER_CONFIG": str(site.conf), "HOME": "/tmp",
            "LD_LIBRARY_PATH": "/nonexistent", **env}
    ran = subprocess.run(["runuser", "-u", user.name, "--", "env", "-i",
                          *[f"{k}={v}" for k, v in base.items()], sys.executable, "-IS",
                          "-X", "importtime", "-c", code, *args],
                         capture_output=True, text=True, timeout=60, cwd="/tmp")
    started = subprocess.run([sys.executable, "-IS", "-X", "importtime", "-c", "pass"],
                             capture_output=True, text=True).stderr
    names = {line.split("|")[-1].strip() for line in ran.stderr.splitlines()
             if line.startswith("import time:")}
    before = {line.split("|")[-1].strip() for line in started.splitlines()}
    ran.stderr = "\n".join(line for line in ran.stderr.splitlines()
                           if not line.startswith("import time:"))
    return ran, names - before - {"imported package"}


def test_the_plan_enters_the_same_container_with_the_lean_modules_only(site, user):
    bb = site.images.ids["plain"]
    site.write_conf(siteEnv="SITE=1", siteEnvPrepend="PATH=/opt/site/bin",
                    siteEnvUnset="HOME")
    site.setup("-u", user.name, "id", bb)
    plan = Path(plan_file(str(site.conf)))
    assert plan.stat().st_uid == 0 and plan.stat().st_mode & 0o777 == 0o644
    pinned = {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": bb,
              "SHIFTER_IMAGEREQUEST": "docker:plain:latest"}
    fast, fast_modules = run_entry(site, user, "/bin/sh", "-c", PROBE, **pinned)
    full, full_modules = run_entry(site, user, "--verbose", "/bin/sh", "-c", PROBE, **pinned)
    assert fast.returncode == 0 and full.returncode == 0, (fast.stderr, full.stderr)
    assert fast_modules <= LEAN, fast_modules - LEAN
    assert "shifter_runtime.config" in full_modules and "prepared container" in full.stderr
    assert fast.stdout == full.stdout
    lines = fast.stdout.splitlines()
    assert lines[:2] == [str(user.uid), "/tmp"]
    assert "SITE=1" in lines and "SHIFTER_IMAGEREQUEST=docker:plain:latest" in lines
    assert f"SHIFTER_IMAGE={bb}" in lines
    assert not any(line.startswith(("HOME=", "LD_LIBRARY_PATH=")) for line in lines)
    assert any(line.startswith("PATH=/opt/site/bin:") for line in lines)
    caps = dict(line.split(":\t") for line in lines if line.startswith("Cap"))
    assert len(caps) == 5 and all(int(v, 16) == 0 for v in caps.values()), caps
    assert "NoNewPrivs:\t1" in lines, lines[-6:]
    site.unsetup()
    assert not plan.exists()


@pytest.mark.parametrize("why", ["volume", "module-env", "option", "config-changed",
                                 "other-image", "no-plan"])
def test_anything_the_plan_does_not_cover_takes_the_full_launch(site, user, why):
    bb = site.images.ids["plain"]
    site.write_conf(**({"defaultModules": "m1", "module_m1_siteEnv": "M1=on"}
                       if why == "module-env" else {}))
    site.setup("-u", user.name, "id", bb)
    env = {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": bb}
    args = ["/bin/sh", "-c", "echo $M1; pwd"]
    if why == "volume":
        env["SHIFTER_VOLUME"] = "/tmp:/data"
    elif why == "module-env":
        env["SHIFTER_MODULE"] = "m1"
    elif why == "option":
        args = ["--workdir=/", *args]
    elif why == "config-changed":
        site.conf.write_text(site.conf.read_text() + "# edited\n")
    elif why == "other-image":
        env["SHIFTER_IMAGE"] = site.images.ids["busybox"]
    else:
        Path(plan_file(str(site.conf))).unlink()
    ran, modules = run_entry(site, user, *args, **env)
    assert ran.returncode == 0, ran.stderr
    assert "shifter_runtime.config" in modules
    expected = {"module-env": "on\n/tmp\n", "option": "\n/\n"}.get(why, "\n/tmp\n")
    assert ran.stdout == expected
    site.unsetup()


def test_a_plan_that_cannot_be_written_costs_only_speed(site, user):
    """setupRoot and unsetupRoot warn in one line each and carry on; ``shifter``
    takes the full launch into the same container.  (A directory in the plan's
    place stands for an unwritable /run: it blocks only this site's plan.)"""
    bb = site.images.ids["plain"]
    blocker = Path(plan_file(str(site.conf)))
    blocker.mkdir(parents=True)
    try:
        done = site.setup("-u", user.name, "id", bb)
        warned = done.stderr.splitlines()
        assert len(warned) == 2 and all(
            line.startswith(f"setupRoot: warning: launch plan: [Errno 21] Is a directory: '{blocker}")
            and line.endswith("; shifter takes the full launch") for line in warned), done.stderr
        ran, modules = run_entry(site, user, "/bin/sh", "-c", "id -u; pwd",
                                 SHIFTER_IMAGETYPE="id", SHIFTER_IMAGE=bb)
        assert (ran.returncode, ran.stdout) == (0, f"{user.uid}\n/tmp\n"), ran.stderr
        assert "shifter_runtime.config" in modules
        done = site.unsetup()
        assert done.stderr == f"unsetupRoot: warning: launch plan: [Errno 21] Is a directory: '{blocker}'\n"
        assert site.mounts() == []
    finally:
        blocker.rmdir()
