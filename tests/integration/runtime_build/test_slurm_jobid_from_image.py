"""An image cannot decide which job owns its container (audit gap 9).

The Slurm epilog leaves a container mounted when its job-id record names another
job.  That record lives in ``/run/shifter/jobs``, so an image shipping
``var/shifterSlurm.jobid`` (the old place: a big file is bound read-only, and a
read-only root keeps even a small one; or a symlink to a victim) changes
nothing: the epilog of the job that built it still tears it down.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import _busybox_rootfs, _install
from shifter_slurm import epilog, marker
from shifter_slurm.plugconf import PlugConf

pytestmark = pytest.mark.integration

JOB = 42
CLAIM = "7\n"  # the image's claim: the container is job 7's
PLANTED = "var/shifterSlurm.jobid"


@dataclass
class FakeSpank:
    """The epilog's view of Slurm: job 42 of ``uid``, and its log."""

    uid: int
    log: list[str] = field(default_factory=list)

    def job_id(self) -> int:
        return JOB

    def job_uid(self) -> int:
        return self.uid

    def info(self, msg: str) -> None:
        self.log.append(msg)

    error = debug = info


@pytest.fixture(scope="module")
def images(rt_images):
    """``jobidbig0001`` ships the claim as a >5 MB file; ``jobidlink0001`` as a symlink
    to a victim file on the host."""
    work = Path(tempfile.mkdtemp(prefix="rtbuild-jobid-"))
    work.chmod(0o755)
    victim = work / "victim"
    victim.write_text(CLAIM)
    big, link = work / "big", work / "link"
    for root in (big, link):
        _busybox_rootfs(root)
    (big / PLANTED).write_text(CLAIM + " " * (6 << 20))
    (link / PLANTED).symlink_to(victim)
    ids = {"big": _install(rt_images.path, "jobidbig0001", big),
           "link": _install(rt_images.path, "jobidlink0001", link)}
    yield ids, victim
    for ident in ids.values():
        for ext in ("squashfs", "meta"):
            (rt_images.path / f"{ident}.{ext}").unlink(missing_ok=True)
    shutil.rmtree(work)


@pytest.mark.parametrize("image, writable", [("big", "1"), ("big", "0"), ("link", "1")])
def test_the_epilog_tears_down_a_container_whose_image_claims_another_job(
        site, user, images, monkeypatch, image, writable):
    ids, victim = images
    udi = str(site.udi)
    site.write_conf(mountUdiRootWritable=writable)
    site.setup("-U", str(user.uid), "-G", str(user.gid), "-u", user.name, "id", ids[image])
    try:
        planted = site.udi / PLANTED
        assert planted.is_symlink() or planted.read_text().startswith(CLAIM), "the image's claim is not there"
        marker.write(udi, JOB)  # as the prolog does
        assert marker.read(udi) == JOB
        monkeypatch.setenv("SPANK_SHIFTER_IMAGE", ids[image])
        spank = FakeSpank(user.uid)
        assert epilog.job_epilog(spank, PlugConf(shifter_config=str(site.conf))) == 0
        assert site.mounts() == [], spank.log
        assert not any("left in place" in line for line in spank.log), spank.log
        assert not os.path.lexists(marker.path(udi)), "the epilog kept the job's record"
        assert victim.read_text() == CLAIM
    finally:
        marker.remove(udi)
