"""``unsetupRoot``: tear the prepared container down and leave the node clean.

``unsetupRoot [-c udiRoot.conf]``: container processes are killed, every mount under
``udiMount`` and ``loopMount`` is lazily unmounted (loop devices autoclear). Safe after
a half-built setup and when nothing is there.
"""
from __future__ import annotations

import getopt
import os
import sys

USAGE = "usage: unsetupRoot [-c udiRoot.conf]"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``unsetupRoot`` console script."""
    try:
        opts, rest = getopt.getopt(sys.argv[1:] if argv is None else argv, "c:h")
    except getopt.GetoptError as err:
        print(f"unsetupRoot: {err} (unsetupRoot -h: usage)", file=sys.stderr)
        return 2
    if ("-h", "") in opts:
        print(USAGE)
        return 0
    if rest:
        print(f"unsetupRoot: unexpected argument {rest[0]!r} (unsetupRoot -h: usage)",
              file=sys.stderr)
        return 2
    cli_config = dict(opts).get("-c")
    os.environ.clear()
    os.environ["PATH"] = "/usr/bin:/usr/sbin:/bin:/sbin"
    if os.geteuid() != 0:
        print("unsetupRoot: must be run as root", file=sys.stderr)
        return 1
    from ..build.teardown import destroy_container
    from ..config import config_path, load_config
    from ..errors import ShifterError
    from ..launch.prepared import remove_plan
    conf_path = config_path(True, cli_path=cli_config)
    try:
        config = load_config(conf_path)
    except ShifterError as err:
        print(f"unsetupRoot: {err}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"unsetupRoot: warning: {warning}", file=sys.stderr)
    try:
        remove_plan(conf_path)
    except OSError as err:
        print(f"unsetupRoot: warning: launch plan: {err}", file=sys.stderr)
    left = destroy_container(config.udi_mount, config.loop_mount)
    if left:
        print(f"unsetupRoot: still mounted after retries: {' '.join(left)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
