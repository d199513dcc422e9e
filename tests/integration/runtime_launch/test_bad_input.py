"""Bad input to ``shifter`` gives one exact line naming the problem and its source,
exit status 1, and leaves nothing behind (the ``shifter`` fixture checks that)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed.paths import PREFIX

pytestmark = pytest.mark.integration

USER = "shifteruser"
PINNED = {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": "plain"}


def _one_line(proc: subprocess.CompletedProcess, line: str) -> None:
    assert (proc.returncode, proc.stderr) == (1, f"shifter: {line}\n")


@pytest.fixture
def scratch(launch_site):
    """A directory of the site the test users can read; removed afterwards."""
    path = launch_site.base / "scratch"
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("content, line", [
    (b"A=b\x00c\n", "{f}:1: NUL byte (an environment variable cannot hold one)"),
    (b"A=1\n\xff\xfe=2\n", "{f}:2: not UTF-8 text (byte 4)"),
])
def test_env_file_content(shifter, scratch, content, line):
    env_file = scratch / "env"
    env_file.write_bytes(content)
    env_file.chmod(0o644)
    proc = shifter(USER, "--image=id:plain", f"--env-file={env_file}", "true")
    _one_line(proc, line.format(f=env_file))


@pytest.mark.parametrize("env, line", [
    ({"SHIFTER_MODULE": "nosuch"}, "SHIFTER_MODULE: unknown shifter module 'nosuch'"),
    ({"SLURM_SPANK_SHIFTER_MODULE": "nosuch"},
     "SLURM_SPANK_SHIFTER_MODULE: unknown shifter module 'nosuch'"),
    ({"SHIFTER_MODULE": ""}, "SHIFTER_MODULE: empty module list (use 'none')"),
    ({"SHIFTER_VOLUME": "/tmp"}, "SHIFTER_VOLUME: volume '/tmp': expected from:to[:flags]"),
    ({"SHIFTER_VOLUME": ""}, "SHIFTER_VOLUME is set but empty (unset it for no volumes)"),
    ({"SHIFTER_IMAGETYPE": None, "SHIFTER_IMAGE": "zz"},
     "SHIFTER_IMAGE=zz given without SHIFTER_IMAGETYPE (set both, or use --image=<type>:<tag>)"),
])
def test_variables_are_named(shifter, env, line):
    env = {k: v for k, v in {**PINNED, **env}.items() if v is not None}
    _one_line(shifter(USER, "true", env=env), line)


@pytest.mark.parametrize("args, line", [
    (["--image=id:plain", "--module=nosuch"], "--module: unknown shifter module 'nosuch'"),
    (["--image=id:plain", "--volume=/tmp"], "--volume: volume '/tmp': expected from:to[:flags]"),
    (["--volume="], "option '--volume' given an empty value"),
    (["--image=id:zz"], "image id:zz: not found in {images}"),
])
def test_options_are_named(shifter, launch_site, args, line):
    _one_line(shifter(USER, *args, "true"), line.format(images=launch_site.images))


def test_setuproot_names_a_missing_image_too(launch_site):
    proc = subprocess.run([str(PREFIX / "bin/setupRoot"), "-c", str(launch_site.conf),
                           "-u", USER, "id", "zz"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == \
        (1, f"setupRoot: image id:zz: not found in {launch_site.images}\n")


@pytest.mark.parametrize("image, line", [
    ("/nonexistent", "local image is not a directory"),
    ("{scratch}/file", "local image is not a directory"),
    ("{scratch}/closed", f"permission denied for {USER}"),
    ("{scratch}/closed/below", f"permission denied for {USER}"),
    ("/", "contains {udi}, where a private container is built: use a container prepared "
          "by root (setupRoot, or the Slurm path)"),
    ("{base}", "contains {udi}, where a private container is built: use a container "
               "prepared by root (setupRoot, or the Slurm path)"),
])
def test_local_images_are_named(shifter, launch_site, scratch, image, line):
    (scratch / "file").write_text("")
    (scratch / "closed").mkdir(mode=0o700)
    names = {"scratch": scratch, "udi": launch_site.udi, "base": launch_site.base}
    image = image.format(**names)
    _one_line(shifter(USER, f"--image=local:{image}", "true"),
              f"image local:{image}: {line.format(**names)}")


@pytest.fixture
def broken(shifter, launch_site):
    """``broken(make)``: run ``shifter --image=id:broken`` with a public ``broken.meta`` and
    ``make(<a good squashfs>)`` as its image file (none if None); returns the process,
    the file and the good image's bytes."""
    good = (launch_site.base / "image.squashfs").read_bytes()
    meta, path = launch_site.images / "broken.meta", launch_site.images / "broken.squashfs"

    def run(make) -> tuple[subprocess.CompletedProcess, Path, bytes]:
        meta.write_text("FORMAT: squashfs\n")
        meta.chmod(0o644)
        data = make(good)
        if data is not None:
            path.write_bytes(data)
            path.chmod(0o644)
        return shifter(USER, "--image=id:broken", "true"), path, good
    yield run
    meta.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


@pytest.mark.parametrize("make, problem", [
    (lambda good: None, "{f} is missing (its .meta is there)"),
    (lambda good: os.urandom(100_000), "{f}: not a squashfs image (no squashfs superblock)"),
    (lambda good: good[:4096],
     "{f}: truncated squashfs image (4096 bytes, the superblock says {used})"),
])
def test_broken_image_files_are_named(broken, make, problem):
    proc, path, good = broken(make)
    used = int.from_bytes(good[40:48], "little")
    _one_line(proc, f"image id:broken: {problem.format(f=path, used=used)}")


def test_squashfuse_complaint_is_folded_into_the_line(broken):
    proc, path, _ = broken(lambda good: good[:20] + (99).to_bytes(2, "little") + good[22:])
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"shifter: image id:broken: {path}: squashfuse: Squashfs "
                                  "image uses "), proc.stderr  # the rest names its compressors
