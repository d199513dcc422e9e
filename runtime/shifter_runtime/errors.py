"""Error types of the runtime: every one prints as a single line.

Callers print ``f"shifter: {err}"`` (or the command's own name) and exit
non-zero; nothing else is needed to tell the user what was wrong and where.
"""
from __future__ import annotations


class ShifterError(Exception):
    """Base class; ``str()`` is always one line (newlines folded to spaces)."""

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split("\n"))


class UsageError(ShifterError):
    """A bad command-line option or argument (message names the option)."""


class ConfigError(ShifterError):
    """A problem in a configuration file: ``path:line: key: msg``.

    ``line`` and ``key`` may be omitted (whole-file problems such as
    ownership), giving ``path: msg`` or ``path:line: msg``.
    """

    def __init__(self, path: str, line: int | None, key: str | None,
                 msg: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.msg = msg
        where = path if line is None else f"{path}:{line}"
        text = f"{where}: {key}: {msg}" if key else f"{where}: {msg}"
        super().__init__(text)


class ImageError(ShifterError):
    """A bad image descriptor, an unusable image or a refused image."""


class MetaError(ShifterError):
    """A malformed ``<id>.meta`` file (message names file:line)."""


class VolumeError(ShifterError):
    """A bad volume map entry (message names the entry)."""


class ModuleError(ShifterError):
    """A bad module selection (unknown, disabled or conflicting module)."""


class EnvError(ShifterError):
    """A bad environment assignment (``--env``, ``--env-file``, site env)."""


class CommandError(ShifterError):
    """No usable command or working directory could be chosen."""


def local_image_message(reference: str, user: str, err: OSError | None = None) -> str:
    """The line for a ``local:`` image the user cannot use: not a directory (``err``
    None, or the path is missing), else ``err`` (lower case) for ``user``."""
    if err is None or isinstance(err, (FileNotFoundError, NotADirectoryError)):
        return f"image {reference}: local image is not a directory"
    return f"image {reference}: {err.strerror.lower()} for {user}"
