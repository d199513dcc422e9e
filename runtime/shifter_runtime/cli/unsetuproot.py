"""``unsetupRoot``: tear the prepared container down and leave the node clean.

``unsetupRoot [-c udiRoot.conf]``: container processes are killed, every mount under
``udiMount`` and ``loopMount`` is lazily unmounted (loop devices autoclear). Safe after
a half-built setup and when nothing is there.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``unsetupRoot`` console script."""
    parser = argparse.ArgumentParser(prog="unsetupRoot", allow_abbrev=False,
                                     description="Tear down the Shifter container (root).")
    parser.add_argument("-c", dest="config", help="udiRoot.conf to read")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.clear()
    os.environ["PATH"] = "/usr/bin:/usr/sbin:/bin:/sbin"
    if os.geteuid() != 0:
        print("unsetupRoot: must be run as root", file=sys.stderr)
        return 1
    from ..build.teardown import destroy_container
    from ..config import config_path, load_config
    from ..errors import ShifterError
    try:
        config = load_config(config_path(True, cli_path=args.config))
    except ShifterError as err:
        print(f"unsetupRoot: {err}", file=sys.stderr)
        return 1
    left = destroy_container(config.udi_mount, config.loop_mount)
    if left:
        print(f"unsetupRoot: still mounted after retries: {' '.join(left)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
