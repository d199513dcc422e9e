"""What jobs see: SHIFTER_* and upstream's SLURM_SPANK_SHIFTER_* variables; environment twins."""
import pytest

from slurmsite import USER

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def shifter_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "SHIFTER" in line.split("=", 1)[0])


def test_srun_exports_the_pinned_image(cluster, site):
    proc = cluster.run(["srun", f"--image=id:{site.busybox}", "--volume=/tmp:/data", "--volume=/home:/h:ro",
                        "--module=none", "env"], user=USER)
    env = shifter_env(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert env["SHIFTER_IMAGE"] == site.busybox
    assert env["SHIFTER_IMAGETYPE"] == "id"
    assert env["SHIFTER_IMAGEREQUEST"] == site.busybox
    assert env["SHIFTER_VOLUME"] == "/tmp:/data;/home:/h:ro"
    assert env["SHIFTER_MODULE"] == "none"


def test_batch_job_sees_upstream_names_and_nested_srun_keeps_them(cluster, site, user_dir):
    out = user_dir / "out"
    job = cluster.run(["sbatch", "--parsable", "-o", str(out), f"--image=id:{site.busybox}",
                       "--volume=/tmp:/a", "--volume=/home:/b", "--wrap", "env; echo STEP; srun env"],
                      user=USER, check=True).stdout.strip()
    assert cluster.wait_job(job) == "COMPLETED"
    batch, step = out.read_text().split("STEP\n")
    for text in (batch, step):
        env = shifter_env(text)
        assert env["SLURM_SPANK_SHIFTER_IMAGE"] == site.busybox
        assert env["SLURM_SPANK_SHIFTER_IMAGETYPE"] == "id"
        assert env["SHIFTER_IMAGE"] == site.busybox
        assert env["SHIFTER_VOLUME"] == "/tmp:/a;/home:/b", "a nested srun lost a --volume"


def test_salloc_exports_the_image(cluster, site):
    proc = cluster.run(["salloc", f"--image=id:{site.busybox}", "srun", "printenv", "SHIFTER_IMAGE"], user=USER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == site.busybox


@pytest.mark.parametrize("client", ["srun", "salloc"])
def test_environment_twins_without_spank_options(cluster, site, client):
    twins = {"SHIFTER_IMAGE": site.busybox, "SHIFTER_IMAGETYPE": "id", "SHIFTER_VOLUME": "/tmp:/x"}
    cmd = [client, "srun", "env"] if client == "salloc" else ["srun", "env"]
    proc = cluster.run(cmd, user=USER, env=twins)
    env = shifter_env(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert (env["SLURM_SPANK_SHIFTER_IMAGE"] if client == "salloc" else env["SHIFTER_IMAGE"]) == site.busybox
    assert env["SHIFTER_VOLUME"] == "/tmp:/x"


def test_bad_twin_is_refused_by_name(cluster):
    proc = cluster.run(["srun", "true"], user=USER, env={"SHIFTER_IMAGE": "docker:a b"})
    assert proc.returncode != 0
    assert "error: shifter: SHIFTER_IMAGE: character ' ' not allowed" in proc.stderr


def test_plain_jobs_are_untouched(cluster):
    proc = cluster.run(["srun", "env"], user=USER)
    assert proc.returncode == 0
    assert shifter_env(proc.stdout) == {}


def test_user_python_variables_cannot_hijack_the_plugin(cluster, site, user_dir):
    evil = user_dir / "evil"
    (evil / "shifter_slurm").mkdir(parents=True)
    marker = user_dir / "HIJACKED"
    payload = f"open({str(marker)!r}, 'w').write('x')\n"
    for name in ("shifter_slurm/__init__.py", "sitecustomize.py", "encodings.py", "_cffi_backend.py"):
        (evil / name).write_text(payload)
    hostile = {"PYTHONPATH": str(evil), "PYTHONHOME": str(evil), "PYTHONSTARTUP": str(evil / "sitecustomize.py"),
               "PYTHONUSERBASE": str(evil), "PYTHONNOUSERSITE": "", "PYTHONINSPECT": "1"}
    proc = cluster.run(["srun", f"--image=id:{site.busybox}", "printenv", "SHIFTER_IMAGE"], user=USER, env=hostile)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == site.busybox
    assert not marker.exists(), "the user's Python environment ran code inside the plugin"
