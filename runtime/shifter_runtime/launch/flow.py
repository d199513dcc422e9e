"""One launch of ``shifter``, in order (upstream ``shifter.c`` main, without setuid).

1. refuse root; parse options; load ``udiRoot.conf``; select the image and
   resolve its id; read ``<id>.meta`` and enforce its ACLs;
2. choose modules, volumes, command, working directory and environment
   (all pure logic, before anything touches the kernel, so bad input stops
   the launch with nothing made);
3. enter a user + mount namespace mapping only the caller's ids;
4. a prepared container whose ``var/shifterConfig.json`` matches exactly
   (image id, user, volumes, modules) is entered as is; otherwise a private
   container is built (``private``);
5. pivot into it, drop every privilege, run module userhooks, exec.
"""
from __future__ import annotations

import os
import pwd
import sys

from .. import command, config as configmod, environment, imagespec, meta as metamod
from .. import modules as modulesmod, options as optionsmod, state, volumes as volmod
from ..errors import ImageError, ShifterError
from . import enter, execute
from .prepared import read_state

NOT_ROOT = ("shifter: root may not run shifter (run it as the user; root prepares "
            "containers with setupRoot)")


def _lookup_user(config: configmod.UdiRootConfig, uid: int) -> pwd.struct_passwd:
    """The caller's passwd entry: libc with ``allowLibcPwdCalls``, else ``<etcPath>/passwd``."""
    if config.allow_libc_pwd_calls:
        try:
            return pwd.getpwuid(uid)
        except KeyError:
            pass
    else:
        path = f"{config.etc_path}/passwd"
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) == 7 and fields[2] == str(uid):
                        return pwd.struct_passwd((fields[0], fields[1], uid, int(fields[3]),
                                                  *fields[4:]))
        except (OSError, ValueError):
            pass
    raise ShifterError(f"Failed to lookup username for uid {uid}")


def _image_meta(config: configmod.UdiRootConfig, spec: imagespec.ImageSpec,
                ident: str) -> tuple[metamod.ImageMeta, str]:
    """The image metadata and the image file (or directory for ``local:``)."""
    if spec.itype == "local":
        return metamod.ImageMeta(format="VFS"), spec.tag
    meta = metamod.load_meta(metamod.meta_file(config.image_path, ident), spec.label(ident))
    return meta, metamod.image_file(config.image_path, ident, meta.format)


def launch(argv: list[str], environ: dict[str, str]) -> int:
    """Run the launch; returns only when exec fails (the status to exit with)."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0 or os.geteuid() == 0:
        raise SystemExit(NOT_ROOT)
    opts = optionsmod.parse_options(argv)
    if opts.help:
        sys.stdout.write(optionsmod.USAGE)
        return 0
    config = configmod.load_config(configmod.config_path(False, environ))
    selection = imagespec.select_image(opts.image, environ, config)
    if selection is None:
        raise ImageError("no image given: use --image=<type>:<tag> (or SHIFTER_IMAGE)")
    if selection.spec.needs_lookup:
        from .lookup import resolve_identifier
        ident = resolve_identifier(selection.spec, config)
    else:
        ident = selection.spec.tag
    user = _lookup_user(config, uid)
    groups = [gid, *(g for g in os.getgroups() if g != gid)]
    meta, image_path = _image_meta(config, selection.spec, ident)
    if not metamod.acl_allows(meta, uid, groups):
        raise ImageError(f"image '{selection.request}': permission denied "
                         "(not in the image's user or group ACL)")
    module_source, module_text = modulesmod.module_request(opts.modules, environ)
    active = modulesmod.resolve_modules(module_text, config, source=module_source)
    volumes = optionsmod.user_volumes(opts, environ)
    cwd = os.getcwd()
    workdir = command.select_workdir(opts.workdir, opts.workdir_from_image, meta, cwd)
    args = command.select_command(opts.args, opts.use_entrypoint, opts.entrypoint,
                                  meta, environ)
    env_file = [item for path in opts.env_files for item in _env_file(path)]
    env = environment.build_environment(
        environ, clearenv=opts.clearenv, image_request=selection.request,
        image_id=ident, image_env=meta.env, env_file=env_file, cli_env=opts.env,
        modules=active, config=config)
    request = state.ContainerState(ident, user.pw_name, volmod.volume_signature(volumes),
                                   modulesmod.modules_signature(active))
    prepared = state.matches(read_state(f"{config.udi_mount}/{state.STATE_FILE}"), request)
    highest_cap = enter.last_cap()
    if opts.verbose:
        how = "prepared container" if prepared else "private container (squashfuse)"
        print(f"shifter: image {ident} for {user.pw_name}: {how}; workdir {workdir}; "
              f"command {args}", file=sys.stderr)
    enter.enter_user_namespace(uid, gid)
    if prepared:
        root = config.udi_mount
        enter.bind_self(root)
    else:
        from .private import build_private
        root = build_private(config, image_path, meta.format, user, active, volumes,
                             request.to_bytes(), reference=selection.spec.label(ident))
    enter.pivot_into(root)
    enter.drop_privileges(highest_cap)
    execute.change_directory(workdir)
    execute.run_userhooks([(m.name, m.userhook) for m in active if m.userhook])
    return execute.exec_command(args, env)


def _env_file(path: str) -> list[tuple[str, str]]:
    """The assignments of one ``--env-file``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ShifterError(f"--env-file {path}: {err.strerror}") from None
    return environment.parse_env_file(data, path)
