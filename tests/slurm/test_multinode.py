"""Three nodes (own network, hostname and mounts each): one container per node, one hostsfile for all."""
import subprocess

import pytest

from slurmsite import PLUGIN, SHIFTER, USER, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.multinode, pytest.mark.integration]


@pytest.fixture
def mn_cluster(request, multinode, image_dir, test_users):
    """The 3-node cluster with the plugin; indirect parameter True adds enable_sshd=1."""
    sshd = getattr(request, "param", False)
    from pathlib import Path

    from testbed.paths import run_dir

    base = run_dir("slurm-site-mn")
    config = write_config(base, Path(image_dir.path))
    text = config.read_text()
    # /var/udiMount and /var/udiLoopMount are per-node bind mounts: use a directory inside each
    text = text.replace(f"udiMount={base}/udiMount", "udiMount=/var/udiMount/c")
    config.write_text(text.replace(f"loopMount={base}/loopMount", "loopMount=/var/udiLoopMount/c"))
    line = f"required {PLUGIN} shifter_config={config} memory_cgroup=/sys/fs/cgroup/memory"
    cluster = multinode(plugstack_lines=[line + (" enable_sshd=1" if sshd else "")])
    for node in cluster.nodes:
        for mnt in ("var/udiMount/c", "var/udiLoopMount/c"):
            (cluster.node_dir(node) / mnt).mkdir(mode=0o755, exist_ok=True)
    cluster.resume()
    yield cluster, image_dir.install("busybox"), sshd

    def node_leftovers():
        left = []
        for node in cluster.nodes:
            mounts = cluster.node_run(node, ["cat", "/proc/self/mounts"]).stdout
            left += [f"{node}: {m}" for m in mounts.splitlines() if m.split()[1].startswith("/var/udi")
                     and m.split()[1] not in ("/var/udiMount", "/var/udiLoopMount")]
        sshds = subprocess.run(["pgrep", "-f", "/opt/udiImage/ssh/libexec/sshd"], capture_output=True, text=True)
        return left + [f"container sshd {pid}" for pid in sshds.stdout.split()]

    import time
    deadline = time.monotonic() + 15
    while node_leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert node_leftovers() == [], "a node kept container mounts after the job"


def test_srun_on_three_nodes_runs_in_each_nodes_container(mn_cluster, user_dir):
    cluster, busybox, _ = mn_cluster
    out = user_dir / "out"
    script = f"srun -N3 --ntasks-per-node=1 {SHIFTER} sh -c 'echo $(hostname) $(grep -c ^ID=busybox /etc/os-release) $(sort -u /var/hostsfile | tr \"\\n\" \" \")'"
    job = cluster.run(["sbatch", "--parsable", "-N3", "--exclusive", "-o", str(out), f"--image=id:{busybox}",
                       "--wrap", script], user=USER, check=True).stdout.strip()
    assert cluster.wait_job(job, timeout=120) == "COMPLETED", out.read_text() if out.exists() else ""
    lines = sorted(out.read_text().split("\n"))
    lines = [line.strip() for line in lines if line.strip()]
    assert lines == [f"{n} 1 n1 n2 n3" for n in ("n1", "n2", "n3")], lines


@pytest.mark.parametrize("mn_cluster", [True], indirect=True, ids=["sshd"])
def test_ssh_from_one_nodes_container_lands_in_the_next(mn_cluster, user_dir):
    cluster, busybox, _ = mn_cluster
    out = user_dir / "out"
    ssh = "/opt/udiImage/ssh/bin/ssh"
    bare = ("/opt/udiImage/ssh/lib/ld-linux-x86-64.so.2 --library-path /opt/udiImage/ssh/lib "
            "/opt/udiImage/ssh/libexec/ssh -F /dev/null -p 1204 -o BatchMode=yes "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    # the batch script may start before the other nodes' prologs end; an srun waits for them
    script = (f"srun -N3 true; srun -N1 -w n1 {SHIFTER} {ssh} n2 'hostname; grep ^ID= /etc/os-release; id -un'; "
              f"echo rc=$?; srun -N1 -w n1 {SHIFTER} {bare} n2 true; echo nokey=$?")
    job = cluster.run(["sbatch", "--parsable", "-N3", "--exclusive", "-o", str(out), f"--image=id:{busybox}",
                       "--wrap", script], user=USER, check=True).stdout.strip()
    assert cluster.wait_job(job, timeout=120) == "COMPLETED", out.read_text() if out.exists() else ""
    lines = out.read_text().splitlines()
    assert lines[:4] == ["n2", "ID=busybox", USER, "rc=0"], lines
    assert lines[-1] != "nokey=0", "the container sshd let a login without the user's key in"
