"""Root's helpers run isolated from the caller's environment.

The prolog runs setupRoot, unsetupRoot and extern_setup as root with PATH alone
(nothing of slurmstepd's environment, which holds the job's SPANK_* values);
the installed launchers run Python with -IS, so no PYTHON* variable, user site
or site-packages hook changes what they import.
"""
import pytest

from shifter_slurm.prolog import run_logged
from testbed.paths import PREFIX

pytestmark = pytest.mark.unit


class FakeSpank:
    def __init__(self) -> None:
        self.out: list[str] = []

    def debug(self, msg: str) -> None:
        self.out.append(msg.removeprefix("shifter: env: "))

    def error(self, msg: str) -> None:
        raise AssertionError(msg)


def helper_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    spank = FakeSpank()
    run_logged(spank, ["/usr/bin/env"], "env", env)
    return dict(line.split("=", 1) for line in spank.out)


@pytest.fixture
def hostile_environment(monkeypatch):
    for name, value in {"PYTHONPATH": "/tmp/evil", "PYTHONHOME": "/tmp/evil", "LD_LIBRARY_PATH": "/tmp/evil",
                        "SPANK_SHIFTER_IMAGE": "x", "PATH": "/tmp/evil:/usr/bin"}.items():
        monkeypatch.setenv(name, value)


def test_helpers_get_only_path(hostile_environment):
    env = helper_environment()
    assert list(env) == ["PATH"]
    assert "/tmp/evil" not in env["PATH"]


def test_extern_setup_gets_path_and_its_own_variables(hostile_environment):
    assert sorted(helper_environment({"SLURM_JOB_ID": "7"})) == ["PATH", "SLURM_JOB_ID"]


@pytest.mark.parametrize("name", ["setupRoot", "unsetupRoot", "shifter"])
def test_installed_launchers_run_python_isolated(name):
    launcher = PREFIX / "bin" / name
    if not launcher.exists():
        pytest.skip(f"{launcher} is not installed")
    shebang = launcher.read_text().splitlines()[0]
    assert shebang == f"#!{PREFIX}/venv/bin/python3 -IS"
