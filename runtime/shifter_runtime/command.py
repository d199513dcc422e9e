"""Which command runs, and in which directory (upstream ``calculate_args``).

Command:

* no ``--entrypoint``: the command-line arguments, else ``$SHELL`` of the
  caller, else ``/bin/sh`` (the image CMD is *not* used, as upstream);
* ``--entrypoint`` without a value: image ENTRYPOINT + (arguments, else image
  CMD); an image without ENTRYPOINT is an error;
* ``--entrypoint=X``: ``[X]`` + arguments (image CMD ignored).

Working directory: ``--workdir=PATH`` (relative to the caller's current
directory if not absolute); ``--workdir`` alone means the image
WORKDIR (an error if the image has none); otherwise the caller's current
directory.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .errors import CommandError
from .meta import ImageMeta


def select_command(args: Sequence[str], use_entrypoint: bool,
                   entrypoint: str | None, meta: ImageMeta | None,
                   caller_env: Mapping[str, str]) -> list[str]:
    """Return the argv to exec inside the container."""
    if use_entrypoint:
        if entrypoint:
            return [entrypoint, *args]
        image_entry = meta.entrypoint if meta is not None else None
        if not image_entry:
            raise CommandError("--entrypoint: image does not have a defined "
                               "entrypoint")
        tail = list(args) if args else list(meta.cmd or [])
        return [*image_entry, *tail]
    if args:
        return list(args)
    return [caller_env.get("SHELL") or "/bin/sh"]


def select_workdir(workdir: str | None, workdir_from_image: bool,
                   meta: ImageMeta | None, cwd: str) -> str:
    """Return the directory to ``chdir`` to inside the container."""
    if workdir:
        if workdir.startswith("/"):
            return workdir
        return f"{cwd.rstrip('/')}/{workdir}"
    if workdir_from_image:
        if meta is None or not meta.workdir:
            raise CommandError("--workdir: image does not have a defined "
                               "working directory")
        return meta.workdir
    return cwd
