"""The ``shifter`` command line, parsed like upstream's ``getopt_long`` with
``POSIXLY_CORRECT`` (option string ``hvV:i:e:Ew::m:``).

* parsing stops at the first non-option argument or after ``--``; the rest is
  the command;
* short options cluster (``-vE``); a required argument may be attached
  (``-idocker:x``) or the next word (``-i docker:x``); ``-w`` takes an
  argument only when attached (``-w/path``), as getopt's optional arguments;
* long options take ``--opt=value`` or ``--opt value`` when the value is
  required, only ``--opt=value`` when it is optional (``--workdir``,
  ``--entrypoint``/``--entry``); unambiguous prefixes are accepted
  (``--vol=``), as getopt_long does.

``-h``/``--help`` ends parsing at once (later words are not examined), as
upstream prints its help and exits there.  Volumes from ``-V`` replace (not extend)
``SHIFTER_VOLUME`` as soon as one is given (:func:`volume_request`).  Errors are one
line naming the option (or the variable): :class:`UsageError`, or :class:`VolumeError`
for a bad volume (:func:`volume_request`, :func:`user_volumes`); an empty value is
refused for every option that takes one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .environment import parse_assignment
from .errors import UsageError, VolumeError
from .launchenv import VOLUME_ENV, first_set
from .volumes import VolumeMount, parse_volumes


USAGE = """\
Usage: shifter [-h|--help] [-v|--verbose] [--image=<type>:<tag>]
    [-V|--volume=/outside:/inside[:ro|:perNodeCache=size=N][;...]]...
    [-m|--module=<a,b>|none] [-e|--env=NAME=VALUE]... [--env-file=FILE]
    [-E|--clearenv] [-w|--workdir[=/path]] [--entrypoint[=cmd]]
    [--] [command [args...]]

Image selection: --image, else SHIFTER_IMAGETYPE + SHIFTER_IMAGE, else
SHIFTER_IMAGEREQUEST (SLURM_SPANK_SHIFTER_* as fallbacks).  Types: docker,
custom, id, local; without a type the site's defaultImageType is used.

Command selection: the given command; else with --entrypoint the image
ENTRYPOINT (plus the image CMD when no arguments are given); else $SHELL,
else /bin/sh.  --entrypoint=cmd replaces the image ENTRYPOINT.

Environment (lowest to highest precedence): your environment (none with
--clearenv), SHIFTER_IMAGEREQUEST and SHIFTER_IMAGE, the image ENV,
--env-file, --env, module and then site settings.

Volumes: the target must not be /, /etc*, /var* (except /var/tmp), /opt,
/opt/udiImage*, /proc, /sys or /dev; paths are absolute, without '..'.
"""


@dataclass
class ShifterOptions:
    """Everything given on the ``shifter`` command line."""

    image: str | None = None
    volumes: list[str] = field(default_factory=list)
    modules: str | None = None
    use_entrypoint: bool = False
    entrypoint: str | None = None
    workdir: str | None = None
    workdir_from_image: bool = False
    env: list[tuple[str, str]] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    clearenv: bool = False
    verbose: bool = False
    help: bool = False
    args: list[str] = field(default_factory=list)


# long name -> (canonical option, argument: "none" | "required" | "optional")
_LONG = {
    "help": ("help", "none"),
    "verbose": ("verbose", "none"),
    "image": ("image", "required"),
    "volume": ("volume", "required"),
    "module": ("module", "required"),
    "env": ("env", "required"),
    "env-file": ("env-file", "required"),
    "clearenv": ("clearenv", "none"),
    "workdir": ("workdir", "optional"),
    "entrypoint": ("entrypoint", "optional"),
    "entry": ("entrypoint", "optional"),
}
_SHORT = {
    "h": ("help", "none"),
    "v": ("verbose", "none"),
    "i": ("image", "required"),
    "V": ("volume", "required"),
    "m": ("module", "required"),
    "e": ("env", "required"),
    "E": ("clearenv", "none"),
    "w": ("workdir", "optional"),
}


def _long_option(name: str) -> tuple[str, str]:
    if name in _LONG:
        return _LONG[name]
    matches = {_LONG[n] for n in _LONG if n.startswith(name)}
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        raise UsageError(f"unrecognized option '--{name}'")
    raise UsageError(f"option '--{name}' is ambiguous")


def _apply(opts: ShifterOptions, name: str, value: str | None,
           spelled: str) -> None:
    if value is not None and not value:
        raise UsageError(f"option '{spelled}' given an empty value")
    if name == "help":
        opts.help = True
    elif name == "verbose":
        opts.verbose = True
    elif name == "clearenv":
        opts.clearenv = True
    elif name == "image":
        opts.image = value
    elif name == "volume":
        opts.volumes.append(value or "")
    elif name == "module":
        opts.modules = value
    elif name == "env":
        opts.env.append(parse_assignment(value or "", spelled))
    elif name == "env-file":
        opts.env_files.append(value or "")
    elif name == "workdir":
        opts.workdir = value
        opts.workdir_from_image = value is None
    elif name == "entrypoint":
        opts.use_entrypoint = True
        opts.entrypoint = value


def parse_options(argv: Sequence[str]) -> ShifterOptions:
    """Parse ``argv`` (without the program name)."""
    opts = ShifterOptions()
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            break
        if word.startswith("--"):
            body, eq, value = word[2:].partition("=")
            name, kind = _long_option(body)
            spelled = f"--{body}"
            if kind == "none" and eq:
                raise UsageError(f"option '{spelled}' doesn't allow an "
                                 f"argument")
            if kind == "required" and not eq:
                if index >= len(argv):
                    raise UsageError(f"option '{spelled}' requires an "
                                     f"argument")
                value = argv[index]
                index += 1
            _apply(opts, name, value if (eq or kind == "required") else None,
                   spelled)
            if opts.help:
                return opts
            continue
        if not word.startswith("-") or word == "-":
            index -= 1
            break
        pos = 1
        while pos < len(word):
            letter = word[pos]
            pos += 1
            if letter not in _SHORT:
                raise UsageError(f"invalid option -- '{letter}'")
            name, kind = _SHORT[letter]
            value: str | None = None
            if kind != "none":
                rest = word[pos:]
                pos = len(word)
                if rest:
                    value = rest
                elif kind == "required":
                    if index >= len(argv):
                        raise UsageError(f"option requires an argument -- "
                                         f"'{letter}'")
                    value = argv[index]
                    index += 1
            _apply(opts, name, value, f"-{letter}")
            if opts.help:
                return opts
    opts.args = list(argv[index:])
    return opts


def volume_request(opts: ShifterOptions,
                   environ: Mapping[str, str]) -> tuple[str, str]:
    """``(source, text)`` of the volume map: ``-V`` values joined by ``;`` if
    any were given (they replace the environment's), else the first variable
    of ``VOLUME_ENV`` that is set (``source`` is its name), else ``("", "")``.

    A variable set but empty is refused, as ``--volume=`` is: the Slurm plugin
    exports ``SHIFTER_VOLUME`` only with volumes in it.
    """
    if opts.volumes:
        return "--volume", ";".join(opts.volumes)
    found = first_set(environ, VOLUME_ENV)
    if found is None:
        return "", ""
    if not found[1].strip():
        raise VolumeError(f"{found[0]} is set but empty (unset it for no volumes)")
    return found


def user_volumes(opts: ShifterOptions,
                 environ: Mapping[str, str]) -> list[VolumeMount]:
    """The user's volumes (:func:`volume_request`); errors name their source."""
    source, text = volume_request(opts, environ)
    try:
        return parse_volumes(text)
    except VolumeError as err:
        raise VolumeError(f"{source}: {err}") from None
