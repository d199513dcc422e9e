"""The last steps of a launch, inside the container and without privilege.

Working directory, module ``userhook``s (``/bin/sh <hook>`` as the user, with
the cleared environment, as upstream), then ``exec`` of the command looked up
along the container's ``PATH``.  Exit status: the command's own once exec
succeeds; 127 when it cannot be found or run, 126 when it is not executable.
"""
from __future__ import annotations

import errno
import os
import sys

NOT_FOUND = 127
NOT_EXECUTABLE = 126


def change_directory(workdir: str) -> None:
    """chdir to ``workdir``; if impossible say so and stay in ``/`` (as upstream)."""
    try:
        os.chdir(workdir)
    except OSError as err:
        print(f"shifter: cannot change directory to {workdir}: {err.strerror}; "
              "staying in /", file=sys.stderr)


def run_userhooks(hooks: list[tuple[str, str]]) -> None:
    """Run each ``(module, hook)`` with ``/bin/sh``; a failure stops the launch."""
    for module, hook in hooks:
        pid = os.fork()
        if pid == 0:
            try:
                os.execve("/bin/sh", ["/bin/sh", hook], {})
            finally:
                os._exit(NOT_FOUND)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"shifter: Failed to setup module {module}: "
                             f"userhook {hook} exited with {os.waitstatus_to_exitcode(status)}")


def exec_command(argv: list[str], env: dict[str, str]) -> int:
    """Replace this process by ``argv``; return the status to exit with if exec fails."""
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as err:
        print(f"shifter: {argv[0]}: {err.strerror}", file=sys.stderr)
        if err.errno in (errno.EACCES, errno.ENOEXEC, errno.EISDIR):
            return NOT_EXECUTABLE
        return NOT_FOUND
