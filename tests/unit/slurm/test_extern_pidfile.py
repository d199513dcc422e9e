"""extern_cgroup without memory_cgroup: the user-writable sshd.pid never makes root adopt another process.

The extern step writes the pid into its freezer cgroup; here the freezer root is
a tmp dir, so cgroup.procs is a plain file showing what would have been moved.
Processes of other uids and chrooted ones need root; without it those cases skip.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from shifter_slurm import extern
from shifter_slurm.plugconf import PlugConf
from shifter_runtime.state import STATE_FILE
from shifter_slurm.sshd import PID_FILE

pytestmark = pytest.mark.unit
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="processes of other uids need root")

JOB_UID, OTHER_UID = 4242, 4243
STEP = "/slurm_vm/uid_4242/job_7/step_extern"

# chroot (optional) and become the uid, say so, then wait to be killed
SLEEPER = """import os, sys, time
if sys.argv[1]:
    os.chroot(sys.argv[1])
    os.chdir("/")
uid = int(sys.argv[2])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
print("ready", flush=True)
time.sleep(120)
"""


class FakeSpank:
    def __init__(self) -> None:
        self.log: list[str] = []

    def job_uid(self) -> int:
        return JOB_UID

    def job_id(self) -> int:
        return 7

    def info(self, msg: str) -> None:
        self.log.append(msg)

    error = info


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A container at tmp/udi (built, sshd run dir present) and the extern step's cgroup.procs."""
    udi = tmp_path / "udi"
    (udi / Path(STATE_FILE).parent).mkdir(parents=True)
    (udi / STATE_FILE).write_text("{}")
    (udi / PID_FILE.lstrip("/")).parent.mkdir(parents=True)
    procs = tmp_path / "freezer" / STEP.lstrip("/") / "cgroup.procs"
    procs.parent.mkdir(parents=True)
    procs.touch()
    monkeypatch.setattr(extern, "FREEZER_ROOT", str(tmp_path / "freezer"))
    monkeypatch.setattr(extern, "step_freezer_cgroup", lambda: STEP)
    monkeypatch.setattr(extern.siteconf, "load", lambda path: SimpleNamespace(udi_mount=str(udi)))
    return SimpleNamespace(udi=udi, pidfile=udi / PID_FILE.lstrip("/"), procs=procs)


@pytest.fixture
def sleeper():
    """Factory: a process of ``uid``, chrooted in ``root`` when given; killed afterwards."""
    started = []

    def start(uid: int, root: Path | None = None) -> int:
        proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(root or ""), str(uid)],
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout.readline() == "ready\n"
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def adopted(node) -> str:
    extern.adopt(FakeSpank(), PlugConf(extern_cgroup=True))
    return node.procs.read_text()


@pytest.mark.parametrize("planted", ["1\n", "0\n", f"{os.getpid()}\n", "-1\n", "", "x"],
                         ids=["init", "zero-is-the-writer", "this-process", "negative", "empty", "garbage"])
def test_planted_pid_is_not_adopted(node, planted):
    node.pidfile.write_text(planted)
    assert adopted(node) == ""


@needs_root
@pytest.mark.parametrize("uid, chrooted", [(0, False), (0, True), (OTHER_UID, False), (OTHER_UID, True),
                                           (JOB_UID, False)],
                         ids=["root", "root-in-container", "other-user", "other-user-in-container",
                              "user-outside-container"])
def test_pid_of_a_process_not_the_users_in_the_container_is_not_adopted(node, sleeper, uid, chrooted):
    node.pidfile.write_text(f"{sleeper(uid, node.udi if chrooted else None)}\n")
    assert adopted(node) == ""


@needs_root
def test_the_users_process_in_the_container_is_adopted(node, sleeper):
    pid = sleeper(JOB_UID, node.udi)
    node.pidfile.write_text(f"{pid}\n")
    assert adopted(node) == f"{pid}\n"


@needs_root
def test_pid_file_as_a_symlink_is_not_followed(node, sleeper, tmp_path):
    elsewhere = tmp_path / "elsewhere.pid"
    elsewhere.write_text(f"{sleeper(JOB_UID, node.udi)}\n")
    node.pidfile.symlink_to(elsewhere)
    assert adopted(node) == ""


@needs_root
def test_run_dir_as_a_symlink_is_not_followed(node, sleeper, tmp_path):
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    (elsewhere / node.pidfile.name).write_text(f"{sleeper(JOB_UID, node.udi)}\n")
    node.pidfile.parent.rmdir()
    node.pidfile.parent.symlink_to(elsewhere)
    assert adopted(node) == ""


def test_pid_file_as_a_fifo_is_not_read(node):
    os.mkfifo(node.pidfile)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the extern step blocked on a fifo"))
    signal.alarm(5)
    try:
        assert adopted(node) == ""
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
