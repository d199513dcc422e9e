"""``shifter``: run a command in a container, as the calling user.

Only :func:`main` lives here; the launch itself is ``shifter_runtime.launch.flow``
(imported lazily so ``--help`` and errors stay cheap).  Every error is one line
on stderr and a non-zero exit.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shifter`` console script."""
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
        where = f" {err.filename}" if err.filename else ""
        print(f"shifter:{where}: {err.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
