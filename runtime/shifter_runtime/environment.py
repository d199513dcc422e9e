"""The container's environment, layered exactly as upstream (inventory §3.3
step 9), lowest precedence first:

1. the caller's environment (nothing with ``--clearenv``), minus the
   variables glibc removes from a setuid program (``LD_LIBRARY_PATH``,
   ``LD_PRELOAD``, ``TMPDIR``, ... :data:`SECURE_MODE_STRIPPED`), which
   upstream's setuid ``shifter`` therefore never passed on -- kept for
   parity, so host library paths do not override the image's;
2. ``SHIFTER_IMAGEREQUEST=<request>`` and ``SHIFTER_IMAGE=<id>``;
3. the image's ``ENV`` (replace);
4. ``--env-file`` entries, then ``--env`` entries (replace);
5. for each active module in order: ``siteEnv`` (replace), ``siteEnvAppend``
   (``old:new``), ``siteEnvPrepend`` (``new:old``), ``siteEnvUnset``;
6. the global ``siteEnv``, ``siteEnvAppend``, ``siteEnvPrepend``,
   ``siteEnvUnset``.

Appending or prepending to an unset or empty variable just sets it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .config import ModuleConfig, UdiRootConfig
from .errors import EnvError

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class EnvEdits:
    """One layer of site edits (global or one module)."""

    set: list[tuple[str, str]] = field(default_factory=list)
    append: list[tuple[str, str]] = field(default_factory=list)
    prepend: list[tuple[str, str]] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, source: ModuleConfig | UdiRootConfig) -> "EnvEdits":
        return cls(list(source.site_env), list(source.site_env_append),
                   list(source.site_env_prepend), list(source.site_env_unset))


# glibc's UNSECURE_ENVVARS: removed from a setuid program's environment
# before ``main`` runs, so upstream's container never saw them.
SECURE_MODE_STRIPPED = frozenset({
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LD_AUDIT",
    "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_DYNAMIC_WEAK", "LD_HWCAP_MASK",
    "LD_LIBRARY_PATH", "LD_ORIGIN_PATH", "LD_PRELOAD", "LD_PROFILE",
    "LD_SHOW_AUXV", "LD_USE_LOAD_BIAS", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
    "TMPDIR", "TZDIR"})


def is_loader_variable(name: str) -> bool:
    """A variable glibc's secure mode stripped from upstream's setuid
    ``shifter`` (see :data:`SECURE_MODE_STRIPPED`)."""
    return name in SECURE_MODE_STRIPPED


def parse_assignment(text: str, where: str) -> tuple[str, str]:
    """``NAME=VALUE``; ``=`` may be neither first nor last (upstream rule).

    ``where`` names the source (``--env``, ``file:line``) for the message.
    """
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise EnvError(f"{where}: '{text}': expected NAME=VALUE with "
                       f"non-empty name and value")
    if any(c.isspace() for c in name):
        raise EnvError(f"{where}: '{text}': space in variable name")
    return name, value


def parse_env_file(text: str, path: str) -> list[tuple[str, str]]:
    """``--env-file`` content: ``NAME=VALUE`` lines, blank and ``#`` lines
    skipped, quotes kept literally."""
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(parse_assignment(line, f"{path}:{number}"))
    return out


def apply_edits(env: dict[str, str], edits: EnvEdits) -> None:
    """Apply one set/append/prepend/unset layer in place."""
    for name, value in edits.set:
        env[name] = value
    for name, value in edits.append:
        old = env.get(name)
        env[name] = f"{old}:{value}" if old else value
    for name, value in edits.prepend:
        old = env.get(name)
        env[name] = f"{value}:{old}" if old else value
    for name in edits.unset:
        env.pop(name, None)


def build_environment(caller_env: Mapping[str, str], *, clearenv: bool,
                      image_request: str, image_id: str,
                      image_env: Sequence[str] = (),
                      env_file: Iterable[tuple[str, str]] = (),
                      cli_env: Iterable[tuple[str, str]] = (),
                      modules: Sequence[ModuleConfig] = (),
                      config: UdiRootConfig | None = None) -> dict[str, str]:
    """Return the final environment dict of the container process."""
    env: dict[str, str] = {}
    if not clearenv:
        env.update((k, v) for k, v in caller_env.items()
                   if not is_loader_variable(k))
    env["SHIFTER_IMAGEREQUEST"] = image_request
    env["SHIFTER_IMAGE"] = image_id
    for item in image_env:
        name, sep, value = item.partition("=")
        if sep and name:
            env[name] = value
    env.update(env_file)
    env.update(cli_env)
    for module in modules:
        apply_edits(env, EnvEdits.of(module))
    if config is not None:
        apply_edits(env, EnvEdits.of(config))
    return env


def search_path(env: Mapping[str, str]) -> list[str]:
    """Directories ``exec`` searches: the container's PATH (upstream
    ``adoptPATH``), or a default when unset."""
    return [p for p in env.get("PATH", DEFAULT_PATH).split(":") if p]


def which(command: str, env: Mapping[str, str],
          is_executable=None) -> str | None:
    """Resolve ``command`` like ``execvp`` would with the container's PATH.

    A name containing ``/`` is returned as is.  ``is_executable`` (default
    ``os.access(p, os.X_OK)`` on a regular file) is a parameter so callers
    can run it after entering the container and tests need no files.
    """
    if "/" in command:
        return command
    if is_executable is None:
        import os

        def is_executable(p: str) -> bool:
            return os.path.isfile(p) and os.access(p, os.X_OK)
    for directory in search_path(env):
        candidate = f"{directory.rstrip('/')}/{command}"
        if is_executable(candidate):
            return candidate
    return None
