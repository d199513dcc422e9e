"""The last steps of a launch, inside the container and without privilege.

Working directory, module ``userhook``s (``/bin/sh <hook>`` as the user, with
the cleared environment, as upstream), then ``exec`` of the command looked up
along the container's ``PATH``.  Exit status: the command's own once exec
succeeds; 127 when it cannot be found or run, 126 when it is not executable.
"""
import errno
import posix  # not os: importing os costs about 1 ms on the launch path
import _signal  # the C module: ``signal`` imports enum (3 ms on the hot path)
import sys

NOT_FOUND = 127
NOT_EXECUTABLE = 126
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def change_directory(workdir: str) -> None:
    """chdir to ``workdir``; if impossible say so and stay in ``/`` (as upstream)."""
    try:
        posix.chdir(workdir)
    except OSError as err:
        print(f"shifter: cannot change directory to {workdir}: {err.strerror}; "
              "staying in /", file=sys.stderr)


def run_userhooks(hooks: list[tuple[str, str]]) -> None:
    """Run each ``(module, hook)`` with ``/bin/sh``; a failure stops the launch."""
    for module, hook in hooks:
        pid = posix.fork()
        if pid == 0:
            try:
                posix.execve("/bin/sh", ["/bin/sh", hook], {})
            finally:
                posix._exit(NOT_FOUND)
        _, status = posix.waitpid(pid, 0)
        if posix.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"shifter: Failed to setup module {module}: "
                             f"userhook {hook} exited with {posix.waitstatus_to_exitcode(status)}")


def _candidates(command: str, env: dict[str, str]) -> list[str]:
    if "/" in command:
        return [command]
    path = env.get("PATH") or DEFAULT_PATH
    return [f"{d.rstrip('/')}/{command}" for d in path.split(":") if d]


def exec_command(argv: list[str], env: dict[str, str]) -> int:
    """Replace this process by ``argv`` (looked up like ``execvp`` along the
    container's PATH); return the status to exit with if that fails.

    Written out rather than ``os.execvpe`` because nothing may be imported
    once the host's file system is gone.  The signals Python ignores
    (SIGPIPE, SIGXFSZ) get their default action back first.
    """
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ):  # Python ignores these; exec keeps that
        _signal.signal(sig, _signal.SIG_DFL)
    failure: OSError | None = None
    for candidate in _candidates(argv[0], env):
        try:
            posix.execve(candidate, argv, env)
        except OSError as err:
            if failure is None or err.errno not in (errno.ENOENT, errno.ENOTDIR):
                failure = err
    assert failure is not None
    print(f"shifter: {argv[0]}: {failure.strerror}", file=sys.stderr)
    if failure.errno in (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM):
        return NOT_EXECUTABLE
    return NOT_FOUND
