"""``shifter``: run a command in a container, as the calling user.

The full launch, which ``launch.prepared`` (the command's entry point) runs
whenever setupRoot's plan does not fit; the launch itself is
``shifter_runtime.launch.flow`` (imported lazily so ``--help`` and errors stay
cheap).  Every error is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """The full launch of ``shifter`` with ``argv`` (default: ``sys.argv[1:]``)."""
    from ..errors import ShifterError
    from ..launch.flow import launch
    args = sys.argv[1:] if argv is None else argv
    try:
        return launch(args, dict(os.environ))
    except ShifterError as err:
        print(f"shifter: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shifter: interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        print(os_error_line(err), file=sys.stderr)
        return 1


def os_error_line(err: OSError) -> str:
    """The one line an ``OSError`` of the launch prints."""
    where = f" {err.filename}:" if err.filename else ""
    return f"shifter:{where} {err.strerror}"


if __name__ == "__main__":
    sys.exit(main())
