"""``shifter``'s entry point: the prepared launch when setupRoot's plan fits, else the full one.

Starting Python is most of a prepared launch; parsing ``udiRoot.conf``, the
image's ``.meta`` and the modules, and importing the code that does it, cost
about as much again (each module about 0.15 ms here), and for a container
prepared by ``setupRoot`` the answer never changes.  So ``setupRoot`` works it
out once and writes a launch plan, ``/run/shifter/launch/<config>``
(root-owned, 0644; ``<config>`` is the path of ``udiRoot.conf`` with ``/``
spelled ``%2F``), a ``marshal``'ed dict:

* ``config``: identity of ``udiRoot.conf`` (device, inode, size, mtime, ctime);
* ``udi_mount``, ``state_file`` and ``state`` (the exact ``var/shifterConfig.json``),
  ``uid``, ``image``;
* ``edits``: environment layers 3-6 (image ``ENV``, modules, site), as
  :func:`~shifter_runtime.environment.layer_edits` makes them.

It is written only for the usual job container: no volumes, the default
modules, none with a userhook, not a ``local:`` image.  ``shifter`` with no
options, in an environment that names exactly that image by id
(``SHIFTER_IMAGETYPE=id``, ``SHIFTER_IMAGE=<id>``, as the Slurm plugin pins it)
and sets no volume or module variables, run by the plan's uid while the config
and the container's state file are unchanged, enters the container as ``flow``
would (user + mount namespace, bind, pivot, every privilege dropped, the
caller's working directory, exec) with only this module, ``launchenv`` and the
launch steps (``enter``, ``execute``, ``kernel.libc``) loaded: no ``os``, no
parsers, no records.  Anything else, before anything is changed, takes the
full launch (``cli.shifter``), which reaches the same container, environment
and command (tested side by side).

The plan grants nothing: ``shifter`` runs as the user in a user namespace of
its own either way.  ``unsetupRoot`` removes it.
"""
import marshal
import posix
import sys

from ..launchenv import IMAGE_ENV, IMAGE_REQUEST_ENV, IMAGE_TYPE_ENV, MODULE_ENV, VOLUME_ENV
from ..launchenv import Edit, apply_edits, caller_base, config_path, first_set, path_key

PLAN_DIR = "/run/shifter/launch"
VERSION = 1
_MAX_BYTES = 1 << 20


def root_regular(st: posix.stat_result) -> bool:
    """Whether ``st`` is root's: a regular file owned by root, not writable by group or others."""
    return st.st_mode & 0o170022 == 0o100000 and st.st_uid == 0  # S_IFREG, no g+w/o+w


def plan_file(config_path: str) -> str:
    """Where the plan for containers built with ``config_path`` lives."""
    return f"{PLAN_DIR}/{path_key(config_path)}"


def config_identity(config_path: str) -> tuple[int, ...] | None:
    """What changes whenever ``udiRoot.conf`` is edited, replaced, chowned or chmodded."""
    try:
        st = posix.stat(config_path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def load_plan(config_path: str) -> dict | None:
    """The plan for ``config_path``; None when there is none, or it is not root's
    (a regular file owned by root, not writable by group or others) or not a
    plan of this version."""
    try:
        fd = posix.open(plan_file(config_path),  # O_NONBLOCK: a fifo must not hang shifter
                      posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = posix.fstat(fd)
        if not root_regular(st):
            return None
        data = posix.read(fd, _MAX_BYTES)
    finally:
        posix.close(fd)
    try:
        plan = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(plan, dict) or plan.get("version") != VERSION:
        return None
    return plan


def image_request(plan: dict, environ: dict[str, str]) -> str | None:
    """``SHIFTER_IMAGEREQUEST`` for the container when ``environ`` selects the
    plan's image by id (``imagespec.select_image``'s second rule), else None."""
    itype, tag = first_set(environ, IMAGE_TYPE_ENV), first_set(environ, IMAGE_ENV)
    if not itype or not tag or itype[1].strip() != "id" or tag[1].strip() != plan["image"]:
        return None
    request = first_set(environ, IMAGE_REQUEST_ENV)
    if request and request[1].strip():
        return request[1].strip()
    return f"id:{plan['image']}"


def accepts(plan: dict, argv: list[str], environ: dict[str, str], uid: int) -> str | None:
    """The image request text when this launch is exactly what ``plan`` was
    made for (see the module docstring), else None."""
    if not argv or argv[0].startswith("-") or uid == 0 or uid != plan["uid"]:
        return None
    if any(name in environ for name in (*VOLUME_ENV, *MODULE_ENV)):
        return None  # even empty: the full launch refuses an empty SHIFTER_VOLUME
    return image_request(plan, environ)


def encode_plan(*, config_path: str, udi_mount: str, state_file: str, state: bytes, uid: int,
                image: str, edits: list[Edit]) -> bytes | None:
    """The plan's bytes; None when ``config_path`` cannot be read."""
    identity = config_identity(config_path)
    if identity is None:
        return None
    return marshal.dumps({"version": VERSION, "config": identity, "udi_mount": udi_mount,
                          "state_file": state_file, "state": state, "uid": uid, "image": image,
                          "edits": edits})


def write_plan(config_path: str, data: bytes | None) -> None:
    """Publish ``data`` as the plan for ``config_path`` (atomically), or remove
    the plan when ``data`` is None.  Root only."""
    import os
    path = plan_file(config_path)
    if data is None:
        remove_plan(config_path)
        return
    for directory in (os.path.dirname(PLAN_DIR), PLAN_DIR):  # readable whatever the umask
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with open(fd, "wb") as f:
            os.fchmod(fd, 0o644)
            f.write(data)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def remove_plan(config_path: str) -> None:
    """Remove the plan for ``config_path`` if there is one."""
    try:
        posix.unlink(plan_file(config_path))
    except FileNotFoundError:
        pass


def _environ() -> dict[str, str]:
    """The caller's environment as ``os.environ`` decodes it."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {k.decode(encoding, errors): v.decode(encoding, errors)
            for k, v in posix.environ.items()}


def read_state(path: str) -> bytes | None:
    """A container's state file without a trailing newline; None when it cannot be read."""
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
    plan = load_plan(conf)
    if plan is None:
        return None
    request = accepts(plan, argv, environ, uid)
    if request is None or config_identity(conf) != plan["config"]:
        return None
    if read_state(plan["state_file"]) != plan["state"]:
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
