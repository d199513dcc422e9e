"""``setupRoot``: prepare a container in the global mount namespace (as root).

``setupRoot [-V] [-c udiRoot.conf] [-v volmap]... [-s sshPubKey] [-u user] [-U uid]
[-G gid] [-N nodespec] [-m modules] <imageType> <imageIdentifier>`` (upstream
§3.8; ``-c`` is ours, for test beds).  Any failure tears down what was made and
prints one line; the exit status is then 1 (2 for bad usage).
"""
from __future__ import annotations

import getopt
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..build.spec import ImageSource, UserInfo
    from ..config import ModuleConfig, UdiRootConfig
    from ..volumes import VolumeMount

SAFE_PATH = "/usr/bin:/usr/sbin:/bin:/sbin"
USAGE = ("usage: setupRoot [-V] [-c udiRoot.conf] [-v volmap]... [-s sshPubKey] [-u user] "
         "[-U uid] [-G gid] [-N nodespec] [-m modules] <imageType> <imageIdentifier>")


@dataclass
class Args:
    """setupRoot's options and operands."""

    image_type: str
    image_id: str
    verbose: bool = False
    config: Optional[str] = None
    volumes: list[str] = field(default_factory=list)
    ssh_pubkey: Optional[str] = None
    user: Optional[str] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    nodespec: Optional[str] = None
    modules: Optional[str] = None


class UsageError(Exception):
    """Bad command line."""


def parse_args(argv: list[str]) -> Args:
    """getopt ``"Vc:v:s:u:U:G:N:m:h"`` as upstream (plus ``-c``)."""
    try:
        opts, rest = getopt.getopt(argv, "Vc:v:s:u:U:G:N:m:h")
    except getopt.GetoptError as err:
        raise UsageError(str(err)) from None
    if ("-h", "") in opts:
        print(USAGE)
        raise SystemExit(0)
    if len(rest) != 2:
        raise UsageError("expected <imageType> <imageIdentifier>")
    args = Args(rest[0], rest[1])
    for opt, value in opts:
        if opt in ("-U", "-G"):
            if not value.isdigit():
                raise UsageError(f"{opt} {value}: not a number")
            setattr(args, "uid" if opt == "-U" else "gid", int(value))
        elif opt == "-v":
            args.volumes.append(value)
        elif opt == "-N":
            from ..build.etcfiles import parse_nodespec
            from ..errors import ShifterError
            try:
                parse_nodespec(value)
            except ShifterError as err:
                raise UsageError(f"-N: {err}") from None
            args.nodespec = value
        else:
            name = {"-V": "verbose", "-c": "config", "-s": "ssh_pubkey", "-u": "user",
                    "-m": "modules"}[opt]
            setattr(args, name, True if opt == "-V" else value)
    return args


def setup(args: Args) -> float:
    """Build the container; returns the seconds spent building."""
    from ..build import build_container
    from ..build.account import lookup_user
    from ..build.adapt import spec_from_config
    from ..build.image_data import image_source
    from ..config import config_path, load_config
    from ..imagespec import parse_descriptor
    from ..modules import resolve_modules
    from ..volumes import check_per_node_cache, parse_volumes

    conf_path = config_path(True, cli_path=args.config)
    config = load_config(conf_path)
    for warning in config.warnings:
        print(f"setupRoot: warning: {warning}", file=sys.stderr)
    user = lookup_user(args.user, args.uid, args.gid, libc=config.allow_libc_pwd_calls,
                       etc_path=config.etc_path)
    modules = resolve_modules(args.modules, config, source="-m")
    spec = parse_descriptor(f"{args.image_type}:{args.image_id}", None,
                            config.allow_local_chroot)
    image = image_source(spec, config, user)
    volumes = parse_volumes(";".join(args.volumes)) if args.volumes else []
    for volume in volumes:
        check_per_node_cache(volume, config.per_node_cache_size_limit,
                             config.per_node_cache_allowed_fs_type)
    build_spec = spec_from_config(config, image, user, volumes, modules,
                                  nodespec=args.nodespec)
    if args.verbose:
        print(f"setupRoot: {build_spec}", file=sys.stderr)
    _publish_plan(conf_path, None)
    start = time.perf_counter()
    build_container(build_spec)
    spent = time.perf_counter() - start
    _publish_plan(conf_path, _plan(conf_path, config, image, user, volumes, modules,
                                   build_spec.state))
    return spent


def _publish_plan(conf_path: str, data: bytes | None) -> None:
    """Write (or with None remove) the launch plan; a failure only costs speed."""
    from ..launch.prepared import write_plan
    try:
        write_plan(conf_path, data)
    except OSError as err:
        print(f"setupRoot: warning: launch plan: {err}; shifter takes the full launch",
              file=sys.stderr)


def _plan(conf_path: str, config: UdiRootConfig, image: ImageSource, user: UserInfo,
          volumes: list[VolumeMount], modules: list[ModuleConfig],
          state: bytes) -> bytes | None:
    """The launch plan for this container (``launch.prepared``), or None when
    ``shifter`` must take the full launch: volumes, other than the default
    modules, a module userhook, or a local image."""
    from ..environment import layer_edits
    from ..launch.prepared import encode_plan
    from ..modules import modules_signature
    from ..state import STATE_FILE
    if volumes or image.format == "VFS" or any(m.userhook for m in modules) \
            or modules_signature(modules) != modules_signature(list(config.default_modules)):
        return None
    return encode_plan(config_path=conf_path, udi_mount=config.udi_mount,
                       state_file=f"{config.udi_mount}/{STATE_FILE}", state=state,
                       uid=user.uid, image=image.identifier,
                       edits=layer_edits(image_env=image.env, modules=modules, config=config))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``setupRoot`` console script."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"setupRoot: {err} (setupRoot -h: usage)", file=sys.stderr)
        return 2
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
