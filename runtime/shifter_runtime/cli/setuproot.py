"""``setupRoot``: prepare a container in the global mount namespace (as root).

``setupRoot [-V] [-c udiRoot.conf] [-v volmap]... [-s sshPubKey] [-u user] [-U uid]
[-G gid] [-N nodespec] [-m modules] <imageType> <imageIdentifier>`` (upstream
§3.8; ``-c`` is ours, for test beds).  Any failure tears down what was made and
prints one line; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

SAFE_PATH = "/usr/bin:/usr/sbin:/bin:/sbin"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like getopt users expect
        print(f"setupRoot: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="setupRoot", allow_abbrev=False,
                description="Prepare a Shifter container on udiMount (root only).")
    p.add_argument("-V", dest="verbose", action="store_true", help="verbose")
    p.add_argument("-c", dest="config", help="udiRoot.conf to read (default the installed one)")
    p.add_argument("-v", dest="volumes", action="append", default=[], help="volume map")
    p.add_argument("-s", dest="ssh_pubkey", help="ssh public key (container sshd: unsupported)")
    p.add_argument("-u", dest="user", help="user name")
    p.add_argument("-U", dest="uid", type=int, help="uid")
    p.add_argument("-G", dest="gid", type=int, help="gid")
    p.add_argument("-N", dest="nodespec", help="node spec 'host/tasks host/tasks' -> /var/hostsfile")
    p.add_argument("-m", dest="modules", help="comma list of modules, or none")
    p.add_argument("image_type")
    p.add_argument("image_id")
    return p


def setup(args: argparse.Namespace) -> float:
    """Build the container; returns the seconds spent building."""
    from ..build import LoopImageMount, build_container
    from ..build.account import lookup_user
    from ..build.adapt import spec_from_config
    from ..build.image_data import image_source
    from ..config import config_path, load_config
    from ..imagespec import parse_descriptor
    from ..modules import resolve_modules
    from ..volumes import check_per_node_cache, parse_volumes

    config = load_config(config_path(True, cli_path=args.config))
    user = lookup_user(args.user, args.uid, args.gid, libc=config.allow_libc_pwd_calls,
                       etc_path=config.etc_path)
    modules = resolve_modules(args.modules, config)
    spec = parse_descriptor(f"{args.image_type}:{args.image_id}", None,
                            config.allow_local_chroot)
    image = image_source(spec, config, user)
    volumes = parse_volumes(";".join(args.volumes)) if args.volumes else []
    for volume in volumes:
        check_per_node_cache(volume, config.per_node_cache_size_limit,
                             config.per_node_cache_allowed_fs_type)
    build_spec = spec_from_config(config, image, user, volumes, modules, LoopImageMount(),
                                  nodespec=args.nodespec)
    if args.verbose:
        print(f"setupRoot: {build_spec}", file=sys.stderr)
    start = time.perf_counter()
    build_container(build_spec)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``setupRoot`` console script."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.clear()
    os.environ["PATH"] = SAFE_PATH
    if os.geteuid() != 0:
        print("setupRoot: must be run as root", file=sys.stderr)
        return 1
    if args.ssh_pubkey:
        print("setupRoot: warning: -s: the container sshd is not supported; ignored",
              file=sys.stderr)
    from ..errors import ShifterError
    try:
        spent = setup(args)
    except ShifterError as err:
        print(f"setupRoot: {err}", file=sys.stderr)
        return 1
    if args.verbose:
        print(f"setupRoot: container built in {spent * 1000:.1f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
