"""The namespace cluster: three hosts with their own names, addresses and mounts."""
from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slurm, pytest.mark.multinode]


@pytest.fixture(scope="module")
def cluster(multinode, test_users):
    return multinode(prolog_flags="")


def test_srun_on_three_nodes_prints_three_hostnames(cluster):
    proc = cluster.run(["srun", "-N3", "-l", "hostname"], user="shifteruser")
    assert proc.returncode == 0, proc.stderr
    assert sorted(line.split(": ", 1)[1] for line in proc.stdout.splitlines()) == ["n1", "n2", "n3"]


def test_each_node_has_its_own_address(cluster):
    proc = cluster.run(["srun", "-N3", "-l", "sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}'"])
    assert proc.returncode == 0, proc.stderr
    addrs = sorted(line.split(": ", 1)[1] for line in proc.stdout.splitlines())
    assert addrs == ["10.77.0.11/24", "10.77.0.12/24", "10.77.0.13/24"]


def test_udimount_is_per_node(cluster):
    for node in cluster.nodes:
        assert cluster.node_run(node, ["sh", "-c", f"echo {node} > /var/udiMount/marker"]).returncode == 0
    proc = cluster.run(["srun", "-N3", "-l", "cat", "/var/udiMount/marker"])
    lines = sorted(proc.stdout.splitlines())
    assert lines == ["0: n1", "1: n2", "2: n3"], proc.stderr
    for node in cluster.nodes:
        cluster.node_run(node, ["rm", "/var/udiMount/marker"])


def test_batch_job_spans_nodes_as_user(cluster, test_users):
    user = test_users[0]
    proc = cluster.run(["sbatch", "--parsable", "-N3", "-o", "mn-%j.out", "--wrap", "srun hostname | sort"],
                       user=user.name)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    assert cluster.wait_job(job) == "COMPLETED"
    with open(f"{user.home}/mn-{job}.out") as out:
        assert out.read() == "n1\nn2\nn3\n"


def test_mount_in_shared_dir_reaches_every_node(cluster, tmp_path):
    target = cluster.shared / "probe"
    target.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "probe", str(target)], check=True)
    try:
        (target / "hello").write_text("shared\n")
        proc = cluster.run(["srun", "-N3", "cat", str(target / "hello")])
        assert proc.stdout == "shared\n" * 3, proc.stderr
    finally:
        subprocess.run(["umount", str(target)], check=True)
        target.rmdir()


def test_mount_inside_a_node_stays_in_that_node(cluster):
    mnt = "/var/udiMount"
    assert cluster.node_run("n2", ["mount", "-t", "tmpfs", "-o", "size=1m", "n2only", mnt]).returncode == 0
    try:
        seen = {n: cluster.node_run(n, ["grep", "-c", "^n2only ", "/proc/self/mounts"]).stdout.strip()
                for n in cluster.nodes}
        assert seen == {"n1": "0", "n2": "1", "n3": "0"}
        with open("/proc/self/mounts") as mounts:
            assert "n2only" not in mounts.read()
    finally:
        cluster.node_run("n2", ["umount", mnt])
