"""Image descriptors (``[type:]tag``) and which image a launch uses.

Precedence (upstream ``shifter.c``), highest first:

1. ``--image`` on the command line;
2. ``SHIFTER_IMAGETYPE`` (else ``SLURM_SPANK_SHIFTER_IMAGETYPE``) together
   with ``SHIFTER_IMAGE`` (else ``SLURM_SPANK_SHIFTER_IMAGE``) -- both must be
   present, otherwise both are ignored;
3. ``SHIFTER_IMAGEREQUEST`` (else ``SLURM_SPANK_SHIFTER_IMAGEREQUEST``)
   parsed as a descriptor.

When none applies but one variable of the pair in rule 2 is set, the error
names the missing one.

The *request* string (exported as ``SHIFTER_IMAGEREQUEST`` in the container)
is the ``--image`` text, else the request variable, else ``type:tag``.

Decision: where upstream silently deletes characters outside its allowed set
(``[A-Za-z0-9_:.+-@]``, plus ``/`` for ``docker`` and ``local``), we refuse
the descriptor with a message naming the character.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .config import IMAGE_TYPES, UdiRootConfig
from .errors import ImageError
from .launchenv import IMAGE_ENV, IMAGE_REQUEST_ENV, IMAGE_TYPE_ENV, first_set

_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_:.+-@")
_SLASH_TYPES = ("docker", "local")


@dataclass(frozen=True)
class ImageSpec:
    """A parsed descriptor: ``itype`` is one of :data:`IMAGE_TYPES`."""

    itype: str
    tag: str

    def __str__(self) -> str:
        return f"{self.itype}:{self.tag}"

    @property
    def needs_lookup(self) -> bool:
        """True when the gateway must map the tag to an image id."""
        return self.itype not in ("id", "local")

    def label(self, ident: str) -> str:
        """How messages name the image: ``type:tag``, with the id the gateway
        resolved the tag to, if any."""
        return str(self) if ident == self.tag else f"{self} (id {ident})"


@dataclass(frozen=True)
class ImageSelection:
    """The chosen image and the request text exported to the container."""

    spec: ImageSpec
    request: str
    source: str  # "--image", "SHIFTER_IMAGETYPE", "SHIFTER_IMAGEREQUEST"...


def local_path_problem(tag: str) -> str | None:
    """What is wrong with ``tag`` as a ``local`` image (an absolute path
    without ``..``, setupRoot's rule), e.g. ``must be an absolute path``; None if nothing."""
    if not tag.startswith("/"):
        return "must be an absolute path"
    if ".." in tag.split("/"):
        return "must not contain '..'"
    return None


def _check_tag(itype: str, tag: str, text: str) -> str:
    if not tag:
        raise ImageError(f"image '{text}': empty image tag")
    for char in tag:
        if char in _TAG_CHARS or (char == "/" and itype in _SLASH_TYPES):
            continue
        raise ImageError(
            f"image '{text}': invalid character {char!r} in {itype} tag")
    problem = local_path_problem(tag) if itype == "local" else None
    if problem:
        raise ImageError(f"image '{text}': local image {problem}")
    if itype == "id" and (tag.startswith(".") or ".." in tag):
        raise ImageError(f"image '{text}': invalid image id")
    return tag


def parse_descriptor(text: str, default_type: str | None,
                     allow_local: bool = False) -> ImageSpec:
    """Parse ``[type:]tag``.

    If the text before the first ``:`` is a known type it is the type,
    otherwise the whole text is the tag of ``default_type``.  ``local``
    images need ``allow_local`` (``allowLocalChroot=1``).
    """
    value = text.strip()
    if not value:
        raise ImageError("image: empty image descriptor")
    head, sep, rest = value.partition(":")
    if sep and head in IMAGE_TYPES:
        itype, tag = head, rest
    else:
        if not default_type:
            raise ImageError(
                f"image '{value}': no image type given and no "
                f"defaultImageType configured (use type:tag, type one of "
                f"{', '.join(IMAGE_TYPES)})")
        if default_type not in IMAGE_TYPES:
            raise ImageError(f"image '{value}': bad defaultImageType "
                             f"'{default_type}'")
        itype, tag = default_type, value
    _check_tag(itype, tag, value)
    if itype == "local" and not allow_local:
        raise ImageError(f"image '{value}': local images are disabled "
                         f"(allowLocalChroot=0)")
    return ImageSpec(itype=itype, tag=tag)


def select_image(cli_image: str | None, environ: Mapping[str, str],
                 config: UdiRootConfig) -> ImageSelection | None:
    """Choose the image by upstream's precedence; None if nothing given."""
    default = config.default_image_type
    local = config.allow_local_chroot
    if cli_image is not None:
        spec = parse_descriptor(cli_image, default, local)
        return ImageSelection(spec, cli_image.strip(), "--image")
    itype = first_set(environ, IMAGE_TYPE_ENV)
    tag = first_set(environ, IMAGE_ENV)
    request = first_set(environ, IMAGE_REQUEST_ENV)
    if itype and tag and itype[1].strip() and tag[1].strip():
        type_name, type_value = itype[0], itype[1].strip()
        if type_value not in IMAGE_TYPES:
            raise ImageError(f"{type_name}={type_value}: unknown image type "
                             f"(expected one of {', '.join(IMAGE_TYPES)})")
        spec = parse_descriptor(f"{type_value}:{tag[1].strip()}", default,
                                local)
        text = request[1].strip() if request and request[1].strip() \
            else str(spec)
        return ImageSelection(spec, text, type_name)
    if request and request[1].strip():
        spec = parse_descriptor(request[1], default, local)
        return ImageSelection(spec, request[1].strip(), request[0])
    _refuse_half_pair(itype, tag)
    return None


def _refuse_half_pair(itype: tuple[str, str] | None, tag: tuple[str, str] | None) -> None:
    """One of ``SHIFTER_IMAGETYPE``/``SHIFTER_IMAGE`` (or their Slurm twins)
    without the other: an ImageError naming the one that is missing."""
    for given, names, missing_names in ((tag, IMAGE_ENV, IMAGE_TYPE_ENV),
                                        (itype, IMAGE_TYPE_ENV, IMAGE_ENV)):
        if given and given[1].strip():
            missing = missing_names[names.index(given[0])]
            raise ImageError(f"{given[0]}={given[1].strip()} given without {missing} "
                             "(set both, or use --image=<type>:<tag>)")
