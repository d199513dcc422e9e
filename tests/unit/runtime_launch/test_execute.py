"""Command lookup and exit statuses of ``execute`` (exec that fails returns)."""
from __future__ import annotations

import signal

import pytest

from shifter_runtime.launch import execute

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def python_signal_dispositions():
    """A failed exec_command leaves SIGPIPE/SIGXFSZ at their defaults; restore Python's, or a
    later test's write to a closed socket kills the whole pytest process (exit 141)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGPIPE, signal.SIGXFSZ)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_candidates_follow_the_container_path():
    env = {"PATH": "/opt/bin:/usr/bin/::/bin"}
    assert execute._candidates("ls", env) == ["/opt/bin/ls", "/usr/bin/ls", "/bin/ls"]
    assert execute._candidates("./run", env) == ["./run"]
    assert execute._candidates("ls", {})[0] == "/usr/local/bin/ls"


def test_missing_command_is_127(tmp_path, capsys):
    status = execute.exec_command(["no-such-cmd"], {"PATH": str(tmp_path)})
    assert status == 127
    assert capsys.readouterr().err == "shifter: no-such-cmd: No such file or directory\n"


def test_not_executable_is_126_even_after_a_missing_candidate(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b/tool").write_text("#!/bin/sh\n")
    env = {"PATH": f"{tmp_path}/a:{tmp_path}/b"}
    assert execute.exec_command(["tool"], env) == 126
    assert "Permission denied" in capsys.readouterr().err


def test_workdir_failure_stays_put_with_a_message(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    execute.change_directory(str(tmp_path / "missing"))
    assert "cannot change directory" in capsys.readouterr().err
