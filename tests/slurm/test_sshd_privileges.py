"""The container sshd (enable_sshd=1) and its sessions hold no privilege; extern_cgroup
without memory_cgroup adopts the sshd its pid file names (the planted-pid cases are
unit tests: tests/unit/slurm/test_extern_pidfile.py)."""
from pathlib import Path

import pytest

from slurmsite import PLUGIN, SHIFTER, USER
from testbed.procs import alive, read_pid, wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

SSH = "/opt/udiImage/ssh/bin/ssh"
FIELDS = ("Uid", "Gid", "NoNewPrivs", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


@pytest.fixture
def sshd_cluster(slurm, site):
    """The cluster with enable_sshd=1 extern_cgroup=1, no memory_cgroup, proctrack/cgroup."""
    line = f"required {PLUGIN} shifter_config={site.config} enable_sshd=1 extern_cgroup=1"
    cluster = slurm(plugstack_lines=[line], proctrack="proctrack/cgroup")
    cluster.resume()
    yield cluster
    assert site.settle() == [], "the node was not left clean"


def privileges(status: str) -> dict[str, list[str]]:
    """The identity and capability fields of a /proc/<pid>/status text."""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: fields[name].split() for name in FIELDS}


def unprivileged(uid: int, gid: int) -> dict[str, list[str]]:
    caps = {name: ["0" * 16] for name in FIELDS[3:]}
    return {"Uid": [str(uid)] * 4, "Gid": [str(gid)] * 4, "NoNewPrivs": ["1"], **caps}


def run_sleeping_job(cluster, site, user_dir, first: str = "true") -> tuple[str, int]:
    """An exclusive busybox job that runs ``first`` in its container, then sleeps; (job, sshd pid)."""
    script = f"srun {SHIFTER} sh -c '{first}'; srun {SHIFTER} sleep 300"
    job = cluster.run(["sbatch", "--parsable", "--exclusive", "-o", str(user_dir / "out"),
                       f"--image=id:{site.busybox}", "--wrap", script], user=USER, check=True).stdout.strip()
    pidfile = site.udi_mount / "opt" / "udiImage" / "ssh" / "run" / "sshd.pid"
    wait_until(lambda: read_pid(pidfile) is not None, 30, "the container sshd", 0.1)
    return job, read_pid(pidfile)


def end(cluster, job: str, sshd: int) -> None:
    cluster.run(["scancel", job], check=True)
    cluster.wait_job(job)
    wait_until(lambda: not alive(sshd), 30, "the sshd to end with the job", 0.1)


def test_sshd_and_its_sessions_have_no_privilege(sshd_cluster, site, user_dir, test_users):
    session = user_dir / "session"
    probe = f"{SSH} 127.0.0.1 cat /proc/self/status > {session}"
    job, sshd = run_sleeping_job(sshd_cluster, site, user_dir, probe)
    try:
        wait_until(lambda: "CapAmb" in (session.read_text() if session.exists() else ""), 30,
                   "the ssh session's status", 0.1)
        expected = unprivileged(test_users[0].uid, test_users[0].gid)
        assert privileges(Path(f"/proc/{sshd}/status").read_text()) == expected
        assert privileges(session.read_text()) == expected
    finally:
        end(sshd_cluster, job, sshd)


def test_extern_step_adopts_the_sshd_its_pid_file_names(sshd_cluster, site, user_dir):
    job, sshd = run_sleeping_job(sshd_cluster, site, user_dir)
    try:
        wait_until(lambda: "step_extern" in Path(f"/proc/{sshd}/cgroup").read_text(), 30,
                   "the sshd to be adopted by the extern step", 0.1)
    finally:
        end(sshd_cluster, job, sshd)
