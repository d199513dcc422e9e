"""Prolog builds the job's container with setupRoot; epilog leaves the node clean, whatever happened."""
import time
from pathlib import Path

import pytest

from slurmsite import MEMORY_CGROUP, PREFIX, SHIFTER, USER

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def wait_for(pred, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def job_cgroup(uid: int, job: str) -> Path:
    return Path(MEMORY_CGROUP) / "shifter" / f"uid_{uid}" / f"job_{job}"


# Run by the job's task: does setupRoot's launch plan fit ``srun shifter <cmd>`` there?
PLAN_PROBE = """import os
from shifter_runtime.launchenv import config_path
from shifter_runtime.launch import prepared as plan
env = dict(os.environ)
found = plan.load_plan(config_path(False, env))
print("PLAN", found is not None and plan.accepts(found, ["true"], env, os.getuid()) is not None)
"""


def test_exclusive_job_runs_in_the_prepared_container(cluster, site, user_dir, test_users):
    out = user_dir / "out"
    uid = test_users[0].uid
    (user_dir / "probe.py").write_text(PLAN_PROBE)
    script = (f"{SHIFTER} cat /etc/os-release /var/hostsfile; grep -c . /proc/mounts; "
              f"test -d {job_cgroup(uid, '$SLURM_JOB_ID')} && echo CGROUP; "
              f"{PREFIX}/venv/bin/python3 -I {user_dir}/probe.py")
    job = cluster.run(["sbatch", "--parsable", "--exclusive", "-o", str(out), f"--image=id:{site.busybox}",
                       "--wrap", f"srun bash -c '{script}'"], user=USER, check=True).stdout.strip()
    assert cluster.wait_job(job) == "COMPLETED", out.read_text() if out.exists() else "no output"
    text = out.read_text()
    assert "BusyBox" in text or "busybox" in text, text
    assert f"{cluster.nodes[0]}\n" in text, "/var/hostsfile does not list the node"
    assert "CGROUP" in text, "the job's shifter memory cgroup was not created"
    assert "PLAN True" in text, "srun shifter in the job would not take the prepared launch"
    assert site.settle() == []
    assert not job_cgroup(uid, job).exists()


def test_shared_node_job_gets_no_prepared_container(cluster, site):
    proc = cluster.run(["srun", f"--image=id:{site.busybox}", "bash", "-c", f"test -e {site.udi_mount}/var/shifterConfig.json; echo $?"],
                       user=USER)
    assert proc.stdout.strip() == "1", "setupRoot ran for a job that shares its node"
    assert "shares its nodes: no setupRoot" in cluster.log_paths["slurmd-" + cluster.nodes[0]].read_text()


def start_sleeper(cluster, site, user_dir):
    job = cluster.run(["sbatch", "--parsable", "--exclusive", "-o", str(user_dir / "out"),
                       f"--image=id:{site.busybox}", "--wrap", f"srun {SHIFTER} sleep 300"],
                      user=USER, check=True).stdout.strip()
    wait_for(lambda: (site.udi_mount / "var" / "shifterConfig.json").exists()
             and cluster.run(["squeue", "-h", "-s", "-j", job, "-o", "%i"]).stdout.count(f"{job}.0") == 1,
             "the job's step to run in its container")
    return job


def test_scancel_leaves_the_node_clean(cluster, site, user_dir):
    job = start_sleeper(cluster, site, user_dir)
    cluster.run(["scancel", job], check=True)
    cluster.wait_job(job)
    assert site.settle() == []


def test_killed_step_leaves_the_node_clean(cluster, site, user_dir, test_users):
    job = start_sleeper(cluster, site, user_dir)

    def sleepers():
        return cluster.run(["pgrep", "-u", str(test_users[0].uid), "-f", "sleep 300"]).stdout.split()

    wait_for(sleepers, "the step's sleep to run")
    cluster.run(["kill", "-9", *sleepers()], check=True)
    assert cluster.wait_job(job) in ("COMPLETED", "FAILED")
    assert site.settle() == []


def test_failed_prolog_says_why_and_leaves_the_node_clean(cluster, site, user_dir):
    missing = "ab" * 32
    out = user_dir / "out"
    job = cluster.run(["sbatch", "--parsable", "--exclusive", "-o", str(out), f"--image=id:{missing}",
                       "--wrap", "true"], user=USER, check=True).stdout.strip()
    node = cluster.nodes[0]
    try:
        wait_for(lambda: "drain" in cluster.node_states().get(node, ""), "the failed prolog to drain the node")
        wait_for(out.exists, "the job's error file")
        assert f"shifter: prolog on {node}: setupRoot failed on {node}:" in out.read_text()
        log = cluster.log_paths[f"slurmd-{node}"].read_text()
        assert f"shifter: setupRoot failed on {node}:" in log
        reason = cluster.run(["sinfo", "-h", "-n", node, "-o", "%E"]).stdout.strip()
        assert reason == "Prolog error", f"the drained node is not reported: {reason!r}"
        assert site.settle() == []
    finally:
        cluster.run(["scancel", job])
        cluster.resume()


@pytest.fixture
def ccm_cluster(slurm, site):
    cluster = slurm(plugstack_lines=site.plugstack("enable_sshd=1", "enable_ccm=1"))
    cluster.resume()
    yield cluster
    assert site.settle() == [], "the node was not left clean"


# Run by a --ccm task: where it is, as whom, with which privileges.
CCM_PROBE = ("test -e /var/shifterConfig.json && echo INSIDE; pwd; id -un; "
             "grep -E '^(NoNewPrivs|Cap(Inh|Prm|Eff|Bnd|Amb)):' /proc/self/status")


def test_ccm_places_tasks_in_the_container_without_privileges(ccm_cluster, site, user_dir):
    cluster = ccm_cluster
    assert "--ccm" in cluster.run(["srun", "--help"], user=USER).stdout
    proc = cluster.run(["srun", "--exclusive", "--ccm", "sh", "-c", CCM_PROBE], user=USER, cwd=str(user_dir))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["INSIDE", str(user_dir), USER]
    status = dict(line.split(":\t") for line in lines[3:])
    assert status.pop("NoNewPrivs") == "1", proc.stdout
    assert sorted(status) == ["CapAmb", "CapBnd", "CapEff", "CapInh", "CapPrm"], proc.stdout
    assert all(int(value, 16) == 0 for value in status.values()), proc.stdout
    plain = cluster.run(["srun", "test", "-e", "/var/shifterConfig.json"], user=USER)
    assert plain.returncode != 0, "a job without --ccm ran inside the container"
    refused = cluster.run(["srun", "--ccm", f"--image=id:{site.busybox}", "true"], user=USER)
    assert "--ccm cannot be combined with --image" in refused.stderr


def test_ccm_task_whose_directory_the_user_cannot_enter_starts_in_tmp(ccm_cluster, user_dir):
    locked = user_dir / "root-only"
    locked.mkdir(mode=0o700)
    proc = ccm_cluster.run(["srun", "--exclusive", "--ccm", f"--chdir={locked}", "sh", "-c",
                            "test -e /var/shifterConfig.json && echo INSIDE; pwd"], user=USER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["INSIDE", "/tmp"]


def test_shifter_ccm_in_the_step_environment_does_not_chroot_an_image_job(ccm_cluster, site):
    """SHIFTER_CCM=1 is the user's variable: set for the task only (the client never
    sees it), it must not chroot the task, as root, into the container of an image."""
    proc = ccm_cluster.run(["srun", "--exclusive", f"--image=id:{site.busybox}", "--export=ALL,SHIFTER_CCM=1",
                            "sh", "-c", "test -e /var/shifterConfig.json && echo INSIDE || echo OUTSIDE"],
                           user=USER)
    assert "INSIDE" not in proc.stdout, "the task was chrooted into the image's container"
    assert proc.returncode != 0 and "OUTSIDE" not in proc.stdout, "the task was not refused"
    assert "shifter: --ccm: the container on this node" in proc.stderr, proc.stderr
    assert "was not built for --ccm" in proc.stderr, proc.stderr


def test_extern_setup_runs_after_setup_root_before_the_job(slurm, site, user_dir):
    script = site.base / "extern_setup.sh"
    script.write_text('#!/bin/sh\necho "$SLURM_JOB_ID $SLURM_JOB_USER" > "$SHIFTER_UDIMOUNT/var/extern_setup.done"\n')
    script.chmod(0o755)
    cluster = slurm(plugstack_lines=site.plugstack(f"extern_setup={script}"))
    cluster.resume()
    proc = cluster.run(["srun", "--exclusive", f"--image=id:{site.busybox}", "sh", "-c",
                        f"echo $SLURM_JOB_ID {USER}; {SHIFTER} cat /var/extern_setup.done"], user=USER)
    assert proc.returncode == 0, proc.stderr
    expected, seen = proc.stdout.splitlines()
    assert seen == expected
    assert site.settle() == []


def test_volumes_and_modules_given_at_submission_are_in_the_container(cluster, site, user_dir):
    (user_dir / "hello").write_text("from the host\n")
    (user_dir / "hello").chmod(0o644)
    proc = cluster.run(["srun", "--exclusive", f"--image=id:{site.busybox}", f"--volume={user_dir}:/data:ro",
                        "--module=none", "sh", "-c",
                        f"grep -q ' {site.udi_mount}/data ' /proc/mounts && echo PREPARED; "
                        f"{SHIFTER} sh -c 'cat /data/hello; touch /data/x 2>/dev/null || echo RO'"],
                       user=USER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["PREPARED", "from the host", "RO"]
    log = cluster.log_paths["slurmd-" + cluster.nodes[0]].read_text()
    assert "container ready" in log


def test_stale_container_is_replaced_not_reused(cluster, site, test_users):
    user = test_users[0]
    setup = [f"{PREFIX}/bin/setupRoot", "-c", str(site.config), "-U", str(user.uid), "-G", str(user.gid),
             "-u", user.name, "-N", "stale/1", "id", site.busybox]
    made = cluster.run(setup)
    assert made.returncode == 0, made.stderr
    try:
        proc = cluster.run(["srun", "--exclusive", f"--image=id:{site.busybox}", SHIFTER, "cat", "/var/hostsfile"],
                           user=USER)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [cluster.nodes[0]] * len(proc.stdout.split()), "the stale container was reused"
        assert "removing the stale container" in cluster.log_paths["slurmd-" + cluster.nodes[0]].read_text()
    finally:
        cluster.run([f"{PREFIX}/bin/unsetupRoot", "-c", str(site.config)])


def test_extern_cgroup_puts_the_container_sshd_in_the_extern_step(slurm, site, user_dir):
    cluster = slurm(plugstack_lines=site.plugstack("enable_sshd=1", "extern_cgroup=1"),
                    proctrack="proctrack/cgroup")
    cluster.resume()
    job = start_sleeper(cluster, site, user_dir)
    pidfile = site.udi_mount / "opt" / "udiImage" / "ssh" / "run" / "sshd.pid"
    wait_for(pidfile.exists, "the container sshd")
    sshd = pidfile.read_text().split()[0]
    wait_for(lambda: "step_extern" in Path(f"/proc/{sshd}/cgroup").read_text(),
             "the sshd to be adopted by the extern step")
    cluster.run(["scancel", job], check=True)
    cluster.wait_job(job)
    assert site.settle() == []
    wait_for(lambda: not Path(f"/proc/{sshd}").exists()
             or Path(f"/proc/{sshd}/stat").read_text().split()[2] == "Z", "the sshd to end with the job")
