"""Submit side (srun/sbatch/salloc, as the user): validate, pin the image, export.

The tag is resolved to its image id here, once, through the image gateway as
the submitting user, and the id travels with the job: every node and every step
runs the same bytes even if the tag is re-pointed after submission.  A step
started inside a job (``srun`` in a batch script) keeps the job's pin when it
asks for the same image.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from shifter_slurm import options, siteconf
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.plugconf import DEFAULT_CONFIG

if TYPE_CHECKING:
    from shifter_runtime.config import UdiRootConfig
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank

OPTION_NAMES = ("image", "volume", "module", "ccm")
SSH_KEY = ".udiRoot/id_rsa.key"


def inherited_pin(req: options.Request, environ: Mapping[str, str]) -> str | None:
    """The job's pinned id when this is a step of a job that pinned the same tag."""
    if not environ.get("SLURM_JOB_ID") or environ.get("SHIFTER_IMAGETYPE") != "id":
        return None
    request = environ.get("SHIFTER_IMAGEREQUEST", "")
    if request in (req.image, f"{req.image_type}:{req.image}"):
        return environ.get("SHIFTER_IMAGE") or None
    return None


def lookup(site: "UdiRootConfig", itype: str, tag: str, *, what: str) -> str:
    """Resolve ``itype:tag`` to a READY image id through the gateway, as the caller;
    ``what`` names the option or variable the image came from in errors."""
    from shifter_imagegw.client.api import GatewayClient, GatewayError

    ref = f"{itype}:{tag}"
    if not site.system:
        raise ShifterSlurmError(f"{what} {ref}: no 'system' configured in {site.path}")
    try:
        client = GatewayClient(site.image_gateway, site.gateway_timeout or 60)
        record = client.lookup(site.system, itype, tag)
    except GatewayError as exc:
        raise ShifterSlurmError(f"{what} {ref}: image lookup failed: {exc}") from None
    if not record:
        raise ShifterSlurmError(f"{what} {ref}: no such image; run 'shifterimg pull {ref}'")
    if record.get("status") != "READY" or not record.get("id"):
        raise ShifterSlurmError(
            f"{what} {ref}: image is not ready (status {record.get('status')}); run 'shifterimg pull {ref}'")
    return str(record["id"])


def pin(req: options.Request, site: "UdiRootConfig", environ: Mapping[str, str]) -> str:
    """The identifier the job will use: an id, or the path of a ``local`` image."""
    if req.image_type in ("id", "local"):
        return req.image or ""
    return inherited_pin(req, environ) or lookup(site, req.image_type or "", req.image or "", what=req.image_source)


def image_request(req: options.Request, environ: Mapping[str, str]) -> str:
    """What the user asked for; a step of a job keeps the job's original tag."""
    if req.image_type == "id" and environ.get("SHIFTER_IMAGE") == req.image:
        return environ.get("SHIFTER_IMAGEREQUEST") or req.image
    return req.image or ""


def job_environment(req: options.Request, identifier: str, request: str, pubkey: str | None) -> dict[str, str]:
    """Variables set in the job env and job-control env (prolog: SPANK_<name>)."""
    env = {
        "SHIFTER_IMAGE": identifier,
        "SHIFTER_IMAGETYPE": "local" if req.image_type == "local" else "id",
        "SHIFTER_IMAGEREQUEST": request,
    }
    if req.volumes:
        env["SHIFTER_VOLUME"] = req.volumes
    if req.modules:
        env["SHIFTER_MODULE"] = req.modules
    if req.ccm:
        env["SHIFTER_CCM"] = "1"
    if pubkey:
        env["SHIFTER_SSH_PUBKEY"] = pubkey
    return env


def ssh_pubkey(home: str) -> str:
    """The user's public key for the container sshd, made on first use."""
    key = Path(home) / SSH_KEY
    pub = key.with_name(key.name + ".pub")
    if not pub.exists():
        key.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(key.parent, 0o700)
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shifter", "-f", str(key)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise ShifterSlurmError(f"cannot create {key}: {proc.stderr.strip() or proc.returncode}")
    return pub.read_text().strip()


def init_post_opt(spank: "Spank", conf: "PlugConf") -> int:
    """Validate the options, pin the image and export it to the job."""
    site = siteconf.load(conf.shifter_config)
    req = options.gather(
        {name: spank.option(name) for name in OPTION_NAMES}, os.environ,
        default_type=site.default_image_type, long_options=conf.long_options,
        ccm_enabled=conf.enable_ccm, site=site,
    )
    if req.image is None:
        return 0
    if os.getuid() == 0:
        raise ShifterSlurmError("shifter images cannot be used by root jobs")
    if req.image_type == "local" and not site.allow_local_chroot:
        raise ShifterSlurmError(f"local images are not allowed on this system (allowLocalChroot=0 in {site.path})")
    identifier = pin(req, site, os.environ)
    pubkey = ssh_pubkey(os.path.expanduser("~")) if conf.enable_sshd else None
    for name, value in job_environment(req, identifier, image_request(req, os.environ), pubkey).items():
        spank.job_control_setenv(name, value)
        if name != "SHIFTER_SSH_PUBKEY":
            spank.setenv(name, value)
    if conf.shifter_config != DEFAULT_CONFIG:
        spank.setenv("SHIFTER_CONFIG", conf.shifter_config)  # `shifter` in the job reads the same site config
    # A step started inside the job (srun in a batch script) re-reads the options
    # from SLURM_SPANK__SLURM_SPANK_OPTION_shifter_*, which Slurm fills with the
    # last value of each option; the job-control copies below replace them with
    # the pinned id and every --volume.
    prefix = "_SLURM_SPANK_OPTION_shifter_" + ("shifter." if conf.long_options else "")
    if req.image_type != "local":
        spank.job_control_setenv(prefix + "image", f"id:{identifier}")
    if req.volumes:
        spank.job_control_setenv(prefix + "volume", req.volumes)
    return 0
