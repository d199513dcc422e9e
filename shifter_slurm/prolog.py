"""Job prolog (root, on every node of the job): prepare the container with setupRoot.

What the job asked for arrives as ``SPANK_SHIFTER_*`` variables (set at
submission with spank_job_control_setenv).  Node-exclusive jobs get a container
built by ``setupRoot`` in the node's global mount namespace, reused by every
``srun shifter``; shared-node jobs are skipped, as upstream does (``shifter``
then builds private containers per step).
"""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from shifter_runtime.state import STATE_FILE
from shifter_slurm import marker, siteconf, slurmquery
from shifter_slurm.cgroups import JobCgroup
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.options import Request
from shifter_slurm.plugconf import DEFAULT_CONFIG

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank

def request_from_env(environ: Mapping[str, str]) -> tuple[Request, str | None]:
    """The job's request and sshd public key from the prolog/epilog environment."""
    def get(name: str) -> str | None:
        return environ.get(f"SPANK_{name}") or None

    req = Request(
        image_type=get("SHIFTER_IMAGETYPE"), image=get("SHIFTER_IMAGE"),
        volumes=get("SHIFTER_VOLUME"), modules=get("SHIFTER_MODULE"),
        ccm=get("SHIFTER_CCM") == "1",
    )
    return req, get("SHIFTER_SSH_PUBKEY")


def setup_root_argv(
    udi_root_path: str, config: str, req: Request, *, uid: int, gid: int, user: str,
    node_spec: str,
) -> list[str]:
    """The setupRoot command line (upstream's arguments; ``-c`` for a non-default config).

    The sshd public key is not passed (``-s``): the plugin starts the container
    sshd itself after setupRoot (sshd.py).
    """
    argv = [str(Path(udi_root_path) / "bin" / "setupRoot")]
    if config != DEFAULT_CONFIG:
        argv += ["-c", config]
    argv += ["-U", str(uid), "-G", str(gid), "-u", user, "-N", node_spec]
    for volume in (req.volumes or "").split(";"):
        if volume.strip():
            argv += ["-v", volume.strip()]
    if req.modules:
        argv += ["-m", req.modules]
    argv += [req.image_type or "", req.image or ""]
    return argv


def unsetup_root_argv(udi_root_path: str, config: str) -> list[str]:
    """The unsetupRoot command line."""
    argv = [str(Path(udi_root_path) / "bin" / "unsetupRoot")]
    return argv + (["-c", config] if config != DEFAULT_CONFIG else [])


def run_logged(spank: "Spank", argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run a helper, logging its output to slurmd's log; raise with its last error line."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/usr/sbin:/bin:/sbin", **(env or {})})
    for line in proc.stdout.splitlines():
        spank.debug(f"shifter: {what}: {line}")
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    for line in errors:
        spank.error(f"shifter: {what}: {line}")
    if proc.returncode != 0:
        reason = errors[-1] if errors else f"exit status {proc.returncode}"
        raise ShifterSlurmError(f"{what} failed on {socket.gethostname()}: {reason}")


def job_prolog(spank: "Spank", conf: "PlugConf") -> int:
    """Build the job's container on this node (node-exclusive jobs only)."""
    req, pubkey = request_from_env(os.environ)
    if not req.image:
        return 0
    site = siteconf.load(conf.shifter_config)
    udi = Path(site.udi_mount)
    job_id, uid, gid = spank.job_id(), spank.job_uid(), spank.job_gid()
    if uid == 0:
        spank.error(f"shifter: job {job_id}: no container for root jobs (refused at submission)")
        return 0
    job = slurmquery.job_info(job_id)
    if not job.exclusive:
        spank.info(f"shifter: job {job_id} shares its nodes: no setupRoot (use --exclusive for a prepared container)")
        return 0
    try:
        check_plugstack_paths(conf)
        if (udi / STATE_FILE).exists():
            # a node-exclusive job owns the node: any container still here is stale
            # (an epilog that never ran); upstream would silently reuse it
            spank.error(f"shifter: job {job_id}: removing the stale container of job {marker.read(site.udi_mount)}")
            run_logged(spank, unsetup_root_argv(site.udi_root_path, conf.shifter_config), "unsetupRoot")
        record_owner(spank, site.udi_mount, job_id)
        build(spank, conf, site.udi_mount, site.udi_root_path, req, pubkey, job, uid, gid)
    except ShifterSlurmError as exc:
        tell_job(job, uid, gid, f"shifter: prolog on {socket.gethostname()}: {exc}")
        raise
    return 0


def check_plugstack_paths(conf: "PlugConf") -> None:
    """Refuse an extern_setup or memory_cgroup that cannot work, before anything is built."""
    where = "plugstack.conf: shifter_slurm.so"
    setup = conf.extern_setup
    if setup and not (os.path.isfile(setup) and os.access(setup, os.X_OK)):
        raise ShifterSlurmError(f"{where}: extern_setup={setup}: not an executable file on {socket.gethostname()}")
    if conf.memory_cgroup and not os.path.isfile(os.path.join(conf.memory_cgroup, "cgroup.procs")):
        raise ShifterSlurmError(f"{where}: memory_cgroup={conf.memory_cgroup}: not a cgroup directory "
                                f"on {socket.gethostname()}")


def record_owner(spank: "Spank", udi_mount: str, job_id: int) -> None:
    """Mark the node's container as this job's before it is built, so that the
    epilog tears down whatever this prolog leaves (marker.py)."""
    try:
        marker.write(udi_mount, job_id)
    except OSError as exc:
        spank.error(f"shifter: job {job_id}: cannot record the container's job in {marker.path(udi_mount)}: "
                    f"{exc.strerror}")


def build(spank: "Spank", conf: "PlugConf", udi_mount: str, udi_root_path: str, req: Request,
          pubkey: str | None, job: slurmquery.JobInfo, uid: int, gid: int) -> None:
    """setupRoot for the job's user in the job's shifter cgroup, then the sshd and extern_setup."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ShifterSlurmError(f"uid {uid} has no passwd entry on {socket.gethostname()}") from None
    argv = setup_root_argv(
        udi_root_path, conf.shifter_config, req, uid=uid, gid=gid, user=user,
        node_spec=job.node_spec(),
    )
    if conf.memory_cgroup:
        cgroup = JobCgroup(conf.memory_cgroup, uid, job.job_id)
        cgroup.create()
        cgroup.add(os.getpid())  # setupRoot and the sshd it starts inherit it
    run_logged(spank, argv, "setupRoot")
    if conf.enable_sshd and pubkey:
        start_sshd(udi_mount, user, uid, gid, pubkey)
    if conf.extern_setup:
        run_logged(spank, [conf.extern_setup], "extern_setup", {
            "SLURM_JOB_ID": str(job.job_id), "SLURM_JOB_UID": str(uid), "SLURM_JOB_GID": str(gid),
            "SLURM_JOB_USER": user, "SHIFTER_UDIMOUNT": udi_mount,
        })
    spank.info(f"shifter: job {job.job_id}: container ready on {socket.gethostname()} ({req.image_type}:{req.image})")


def start_sshd(udi_mount: str, user: str, uid: int, gid: int, pubkey: str) -> None:
    """Bundle and start the container sshd (see sshd.py)."""
    from shifter_slurm import sshd

    gids = tuple(sorted({gid, *os.getgrouplist(user, gid)}))
    account = sshd.Account(user, uid, gid, gids)
    sshd.start(udi_mount, account, sshd.install(udi_mount, account, pubkey))


def tell_job(job: slurmquery.JobInfo, uid: int, gid: int, message: str) -> None:
    """Append ``message`` to a batch job's error file, writing as the job's user."""
    if not job.stderr or not job.stderr.startswith("/"):
        return
    subprocess.run(["tee", "-a", job.stderr], input=message + "\n", text=True, user=uid, group=gid,
                   extra_groups=[], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
