"""Options on sbatch/salloc/srun: listed, validated at submission, refused with one line."""
import pytest

from slurmsite import USER

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


@pytest.mark.parametrize("client", ["srun", "sbatch", "salloc"])
def test_help_lists_the_shifter_options(cluster, client):
    out = cluster.run([client, "--help"], user=USER).stdout
    for opt in ("--image=image", "--volume=volume", "--module=module"):
        assert opt in out, f"{client} --help lacks {opt}"
    assert "--ccm" not in out, "--ccm is listed although enable_ccm is off"


@pytest.mark.parametrize("args, reason", [
    (["--image=docker:a b"], "--image: character ' ' not allowed in docker image 'a b'"),
    (["--image=id:nothex"], "--image: character 'n' not allowed in id image 'nothex'"),
    (["--volume=/tmp:/data"], "--volume needs --image"),
    (["--image=id:ab12", "--volume=/tmp:/etc"], "--volume: volume '/tmp:/etc': target '/etc' not allowed"),
    (["--image=id:ab12", "--volume=/tmp/../etc:/x"], "--volume: volume '/tmp/../etc:/x'"),
    (["--image=id:ab12", "--module=a;b"], "--module: bad module name 'a;b'"),
])
@pytest.mark.parametrize("client", ["sbatch", "srun", "salloc"])
def test_bad_values_fail_the_submission(cluster, client, args, reason):
    cmd = [client, *args] + (["--wrap", "true"] if client == "sbatch" else ["true"])
    proc = cluster.run(cmd, user=USER)
    assert proc.returncode != 0, f"{client} {args} was accepted"
    assert f"error: shifter: {reason}" in proc.stderr
    assert cluster.run(["squeue", "-h", "-u", USER]).stdout == "", "a job was queued anyway"


def test_root_cannot_use_images(cluster, site):
    proc = cluster.run(["srun", f"--image=id:{site.busybox}", "true"])
    assert proc.returncode != 0
    assert "shifter images cannot be used by root jobs" in proc.stderr


def test_long_options_replace_the_short_ones(slurm, site):
    cl = slurm(plugstack_lines=site.plugstack("long_options"))
    out = cl.run(["srun", f"--shifter.image=id:{site.busybox}", "printenv", "SHIFTER_IMAGE"], user=USER)
    assert out.stdout.strip() == site.busybox, out.stderr
    short = cl.run(["srun", f"--image=id:{site.busybox}", "true"], user=USER)
    assert short.returncode != 0 and "unrecognized option" in short.stderr


def test_typo_in_plugstack_fails_loudly(slurm, site):
    cl = slurm(plugstack_lines=site.plugstack("enable_sshd=yes"))
    proc = cl.run(["srun", f"--image=id:{site.busybox}", "true"], user=USER)
    assert proc.returncode != 0
    assert "plugstack.conf: shifter_slurm.so: enable_sshd must be 0 or 1, not 'yes'" in proc.stderr
