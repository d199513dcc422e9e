"""``python -m testbed up|down|status``: the test bed for humans, the demo and benchmarks.

``up`` writes ``<run>/env.sh`` (SLURM_CONF, TESTBED_REGISTRY, TESTBED_IMAGE_DIR,
TESTBED_BUSYBOX_ID, ...) and takes leases as holder ``cli`` (or ``$SHIFTER_TESTBED_HOLDER``), kept until
``down``, so it shares daemons with concurrent pytest sessions the same way they
share them with each other.
"""
from __future__ import annotations

import argparse
import os
import sys

from pathlib import Path

from testbed import leaks, lease
from testbed.paths import run_dir
from testbed.procs import TestbedError

HOLDER = os.environ.get("SHIFTER_TESTBED_HOLDER", "cli")
IMAGES = ("busybox", "busybox-oci", "multiarch", "tricky")


def _up(args: argparse.Namespace) -> None:
    from testbed import images, munge, multinode, registry, slurm, users
    from testbed.slurmconf import SlurmSpec

    for user in users.ensure_users():
        print(f"user      {user.name} uid={user.uid} gid={user.gid} groups={','.join(map(str, user.groups))}")
    users.enable_fuse()
    print(f"munge     {munge.up(HOLDER).socket}")
    names = IMAGES + (("debian",) if args.debian else ())
    for name in ("open", "auth"):
        reg = registry.up(name, HOLDER)
        print(f"registry  {reg.url}" + (f" (basic auth {reg.creds})" if reg.username else ""))
        pushed = images.PushedImages(reg)
        for image in names:
            print(f"image     {pushed[image]}")
    image_dir = images.ImageDir(run_dir("images"))
    image_dir.path.chmod(0o755)
    env = {"TESTBED_REGISTRY": registry.SPECS["open"].host, "TESTBED_REGISTRY_AUTH": registry.SPECS["auth"].host,
           "TESTBED_IMAGE_DIR": str(image_dir.path)}
    for name in ("busybox",) + (("debian",) if args.debian else ()):
        env[f"TESTBED_{name.upper()}_ID"] = image_dir.install(name)
        print(f"imagedir  {image_dir.path}/{env[f'TESTBED_{name.upper()}_ID']}.squashfs ({name})")
    spec = SlurmSpec(tuple(args.plugstack_line), args.prolog_flags)
    cluster = None
    if args.multinode:
        cluster = multinode.up(HOLDER, spec, args.nodes)
    elif not args.no_slurm:
        cluster = slurm.up(HOLDER, spec)
    if cluster:
        print(f"slurm     nodes {' '.join(cluster.nodes)}")
        env["SLURM_CONF"] = str(cluster.conf_path)
    env_file = _env_file()
    env_file.write_text("".join(f"export {key}={value}\n" for key, value in env.items()))
    print(f"env       . {env_file}")


def _env_file() -> Path:
    """``<run>/env.sh`` for the default holder, ``<run>/env-<holder>.sh`` otherwise."""
    return run_dir() / ("env.sh" if HOLDER == "cli" else f"env-{HOLDER}.sh")


def _down(args: argparse.Namespace) -> None:
    from testbed import munge, multinode, registry, slurm
    if args.force:
        for service in leaks.SERVICE_PIDFILES:
            for name in lease.holders(service):
                lease.give(service, name)
    multinode.down(HOLDER)
    slurm.down(HOLDER)
    registry.down("open", HOLDER)
    registry.down("auth", HOLDER)
    munge.down(HOLDER)
    _env_file().unlink(missing_ok=True)
    left = leaks.orphan_daemons()
    if left:
        raise TestbedError("still running: " + ", ".join(left))


def _status(args: argparse.Namespace) -> None:
    for service in leaks.SERVICE_PIDFILES:
        pids = leaks.service_pids(service)
        holders = lease.holders(service)
        state = f"running (pids {' '.join(map(str, pids))})" if pids else "stopped"
        print(f"{service:14} {state}; held by: {', '.join(holders) or 'nobody'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start users, munged, registries, images and Slurm")
    up.add_argument("--multinode", action="store_true", help="namespace cluster instead of the local one")
    up.add_argument("--nodes", type=int, default=3, help="nodes of the multinode cluster (default 3)")
    up.add_argument("--no-slurm", action="store_true", help="skip Slurm")
    up.add_argument("--debian", action="store_true", help="also build/push/install test/debian:bookworm (slow once)")
    up.add_argument("--plugstack-line", action="append", default=[], metavar="LINE",
                    help="a plugstack.conf line, e.g. 'required /opt/shifter/lib/shifter_slurm.so ...'")
    up.add_argument("--prolog-flags", default="Alloc,Contain", help="PrologFlags (empty for none)")
    down = sub.add_parser("down", help="release what 'up' took; stop what nobody else uses")
    down.add_argument("--force", action="store_true", help="drop every lease first (after a crashed session)")
    sub.add_parser("status", help="show services, pids and lease holders")
    args = parser.parse_args(argv)
    try:
        {"up": _up, "down": _down, "status": _status}[args.command](args)
    except (TestbedError, OSError) as err:
        print(f"testbed {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
