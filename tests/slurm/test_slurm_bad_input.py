"""Bad input found by trying it as the user: refused at submission with one line, the node never drained."""
import pytest

from slurmsite import USER

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def refused(cluster, cmd, env=None) -> str:
    """Run ``cmd`` as the user; assert it failed, queued nothing, and return the shifter line."""
    proc = cluster.run(cmd, user=USER, env={**cluster.env, **(env or {})})
    assert proc.returncode != 0, f"{cmd} was accepted"
    assert cluster.run(["squeue", "-h", "-u", USER]).stdout == "", "a job was queued anyway"
    assert set(cluster.node_states().values()) == {"idle"}, "the node was drained"
    lines = [line for line in proc.stderr.splitlines() if "error: shifter: " in line]
    assert len(lines) == 1, proc.stderr
    return lines[0].split("error: shifter: ", 1)[1]


@pytest.mark.parametrize("args, reason", [
    (["--module=nosuch"], "--module: unknown shifter module 'nosuch'"),
    (["--module=none,x"], "--module 'none,x': 'none' cannot be combined with modules"),
    (["--image=local:tmp"], "--image: local image 'tmp' must be an absolute path"),
    (["--image=local:/tmp/../etc"], "--image: local image '/tmp/../etc' must not contain '..'"),
])
@pytest.mark.parametrize("client", ["srun", "sbatch"])
def test_what_failed_the_prolog_is_refused_at_submission(cluster, site, client, args, reason):
    args = [f"--image=id:{site.busybox}", *args] if args[0].startswith("--module") else args
    cmd = [client, "--exclusive", *args] + (["--wrap", "true"] if client == "sbatch" else ["true"])
    assert refused(cluster, cmd) == reason


def test_module_twin_is_checked(cluster, site):
    env = {"SHIFTER_IMAGE": site.busybox, "SHIFTER_IMAGETYPE": "id", "SHIFTER_MODULE": "nosuch"}
    assert refused(cluster, ["sbatch", "--wrap", "true"], env) == "SHIFTER_MODULE: unknown shifter module 'nosuch'"


def test_unknown_imagetype_twin(cluster):
    reason = refused(cluster, ["sbatch", "--wrap", "true"], {"SHIFTER_IMAGE": "x", "SHIFTER_IMAGETYPE": "bogus"})
    assert reason.startswith("SHIFTER_IMAGETYPE: unknown image type 'bogus'")


def test_very_long_image_is_not_echoed(cluster):
    reason = refused(cluster, ["salloc", "--image=" + "a" * 5000, "true"])
    assert reason == "--image: image name is 5000 characters long (at most 1024)"


def test_unreachable_gateway_names_the_variable(cluster):
    reason = refused(cluster, ["sbatch", "--wrap", "true"], {"SHIFTER_IMAGE": "ubuntu:latest"})
    assert reason.startswith("SHIFTER_IMAGE docker:ubuntu:latest: image lookup failed: failed to contact the image gateway")


def test_missing_extern_setup_is_named_and_nothing_is_built(slurm, site):
    cl = slurm(plugstack_lines=site.plugstack("extern_setup=/nonexistent/setup"))
    cl.resume()
    log = cl.log_paths[f"slurmd-{cl.nodes[0]}"]
    start = log.stat().st_size
    proc = cl.run(["srun", "--exclusive", f"--image=id:{site.busybox}", "true"], user=USER)
    assert proc.returncode != 0
    with log.open() as handle:
        handle.seek(start)
        text = handle.read()
    assert "shifter: plugstack.conf: shifter_slurm.so: extern_setup=/nonexistent/setup: not an executable file" in text
    assert "setupRoot" not in text and "internal error" not in text
    cl.resume()
    assert site.settle() == []
