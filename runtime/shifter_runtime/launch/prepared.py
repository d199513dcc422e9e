"""``shifter``'s entry point: the prepared launch when the plan fits, else the full one.

A job's ``srun shifter ./app`` runs once per task, so this path is kept to
what the kernel work needs: no ``os``, no config parsing, no records.  If the
``setupRoot`` plan (``launch.plan``) fits this launch exactly, the container
is entered as ``flow`` would enter it: user + mount namespace, bind, pivot,
every privilege dropped, the caller's working directory, exec.  Otherwise (or
before anything is changed, when something does not match) the full launch
``cli.shifter`` runs.
"""
import posix
import sys

from ..callerenv import config_path
from ..envlayers import apply_edits, caller_base
from . import plan as planmod


def _environ() -> dict[str, str]:
    """The caller's environment as ``os.environ`` decodes it."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {k.decode(encoding, errors): v.decode(encoding, errors)
            for k, v in posix.environ.items()}


def _state(path: str) -> bytes | None:
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        return posix.read(fd, 65536).rstrip(b"\n")
    finally:
        posix.close(fd)


def try_prepared(argv: list[str], environ: dict[str, str]) -> int | None:
    """Enter the prepared container and exec ``argv`` when the plan fits; None
    (with nothing changed) when it does not.  Returns only if exec fails."""
    uid = posix.getuid()
    if posix.geteuid() != uid:
        return None
    conf = config_path(False, environ)
    plan = planmod.load_plan(conf)
    if plan is None:
        return None
    request = planmod.accepts(plan, argv, environ, uid)
    if request is None or planmod.config_identity(conf) != plan["config"]:
        return None
    if _state(plan["state_file"]) != plan["state"]:
        return None
    try:
        cwd = posix.getcwd()
    except OSError:
        return None
    env = apply_edits(caller_base(environ, request, plan["image"]), plan["edits"])
    from . import enter, execute
    highest_cap = enter.last_cap()
    enter.enter_user_namespace(uid, posix.getgid())
    enter.bind_self(plan["udi_mount"])
    enter.pivot_into(plan["udi_mount"])
    enter.drop_privileges(highest_cap)
    execute.change_directory(cwd)
    return execute.exec_command(list(argv), env)


def main() -> int:
    """Entry point of the ``shifter`` command."""
    argv = sys.argv[1:]
    try:
        status = try_prepared(argv, _environ())
    except OSError as err:
        from ..cli.shifter import os_error_line
        print(os_error_line(err), file=sys.stderr)
        return 1
    if status is not None:
        return status
    from ..cli.shifter import main as full_launch
    return full_launch(argv)
