"""The container's environment, layered exactly as upstream (inventory §3.3
step 9), lowest precedence first:

1. the caller's environment (nothing with ``--clearenv``), minus the
   variables glibc removes from a setuid program (``LD_LIBRARY_PATH``,
   ``LD_PRELOAD``, ``TMPDIR``, ... :data:`~shifter_runtime.launchenv.SECURE_MODE_STRIPPED`), which
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
Layers 3-6 are one edit list (:func:`layer_edits`) applied by
``launchenv``, the same code the prepared launch runs.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .config import ModuleConfig, UdiRootConfig
from .errors import EnvError
from .launchenv import Edit, apply_edits, caller_base

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def site_edits(source: ModuleConfig | UdiRootConfig) -> list[Edit]:
    """One module's (or the global) ``siteEnv``, ``siteEnvAppend``,
    ``siteEnvPrepend`` and ``siteEnvUnset``, in that order."""
    return [*(("set", n, v) for n, v in source.site_env),
            *(("append", n, v) for n, v in source.site_env_append),
            *(("prepend", n, v) for n, v in source.site_env_prepend),
            *(("unset", n, "") for n in source.site_env_unset)]


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


def parse_env_file(data: bytes, path: str) -> list[tuple[str, str]]:
    """``--env-file`` content: UTF-8 ``NAME=VALUE`` lines, blank and ``#``
    lines skipped, quotes kept literally; errors read ``path:line: problem``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise EnvError(f"{path}:{line}: not UTF-8 text (byte {err.start})") from None
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\0" in line:
            raise EnvError(f"{path}:{number}: NUL byte (an environment variable cannot hold one)")
        out.append(parse_assignment(line, f"{path}:{number}"))
    return out


def layer_edits(*, image_env: Sequence[str] = (),
                env_file: Iterable[tuple[str, str]] = (),
                cli_env: Iterable[tuple[str, str]] = (),
                modules: Sequence[ModuleConfig] = (),
                config: UdiRootConfig | None = None) -> list[Edit]:
    """Layers 3-6 above as one edit list (``setupRoot`` stores it for the
    prepared launch, see ``launch.prepared``)."""
    edits: list[Edit] = []
    for item in image_env:
        name, sep, value = item.partition("=")
        if sep and name:
            edits.append(("set", name, value))
    edits += [("set", n, v) for n, v in env_file]
    edits += [("set", n, v) for n, v in cli_env]
    for module in modules:
        edits += site_edits(module)
    if config is not None:
        edits += site_edits(config)
    return edits


def build_environment(caller_env: Mapping[str, str], *, clearenv: bool,
                      image_request: str, image_id: str,
                      image_env: Sequence[str] = (),
                      env_file: Iterable[tuple[str, str]] = (),
                      cli_env: Iterable[tuple[str, str]] = (),
                      modules: Sequence[ModuleConfig] = (),
                      config: UdiRootConfig | None = None) -> dict[str, str]:
    """Return the final environment dict of the container process."""
    env = caller_base({} if clearenv else dict(caller_env), image_request, image_id)
    return apply_edits(env, layer_edits(image_env=image_env, env_file=env_file,
                                        cli_env=cli_env, modules=modules, config=config))


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
