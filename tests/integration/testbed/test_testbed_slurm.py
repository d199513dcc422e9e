"""The single-node Slurm cluster runs jobs for unprivileged users."""
from __future__ import annotations

import socket

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slurm]


@pytest.fixture(scope="module")
def cluster(slurm, test_users):
    return slurm(prolog_flags="")


def test_srun_hostname_as_user(cluster):
    proc = cluster.run(["srun", "-N1", "hostname"], user="shifteruser")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == socket.gethostname()


def test_srun_runs_with_the_users_ids(cluster, test_users):
    user = test_users[1]
    proc = cluster.run(["srun", "-N1", "id", "-u"], user=user.name)
    assert proc.stdout.strip() == str(user.uid), proc.stderr


def test_sbatch_job_completes_and_writes_output(cluster, test_users):
    user = test_users[0]
    proc = cluster.run(["sbatch", "--parsable", "-o", "job-%j.out", "--wrap", "echo hello from $(id -un)"],
                       user=user.name)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    assert cluster.wait_job(job) == "COMPLETED"
    with open(f"{user.home}/job-{job}.out") as out:
        assert out.read() == f"hello from {user.name}\n"


def test_same_spec_reuses_the_running_cluster(slurm, cluster):
    pid = (cluster.layout.base / "run" / "slurmctld.pid").read_text()
    again = slurm(prolog_flags="")
    assert (again.layout.base / "run" / "slurmctld.pid").read_text() == pid


def test_plugstack_change_restarts_with_new_plugstack(slurm, tmp_path):
    line = "optional /nonexistent/testbed_probe.so"
    changed = slurm(plugstack_lines=[line])
    assert changed.plugstack_path.read_text() == line + "\n"
    assert f"PlugStackConfig={changed.plugstack_path}" in changed.conf_path.read_text()
    assert "PrologFlags=Alloc,Contain" in changed.conf_path.read_text()
    proc = changed.run(["srun", "-N1", "true"])
    assert proc.returncode == 0, proc.stderr
    assert set(changed.log_paths) == {"slurmctld", f"slurmd-{socket.gethostname()}"}
    assert all(p.exists() for p in changed.log_paths.values())


def test_proctrack_cgroup_cluster_runs_steps(slurm):
    cluster = slurm(proctrack="proctrack/cgroup", prolog_flags="")
    proc = cluster.run(["srun", "-N1", "sh", "-c", "cat /proc/self/cgroup | grep freezer"], user="shifteruser")
    assert proc.returncode == 0, proc.stderr
    assert f"/slurm_{cluster.nodes[0]}/uid_" in proc.stdout


def test_bad_config_fails_cleanly_and_next_cluster_works(slurm):
    from testbed.procs import TestbedError
    with pytest.raises(TestbedError, match="slurmctld"):
        slurm(extra_conf=["NoSuchSlurmOption=1"])
    assert slurm(prolog_flags="").run(["srun", "-N1", "true"]).returncode == 0
