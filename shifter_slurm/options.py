"""What a submission asked for: SPANK options, their environment twins, validation (pure).

Option (short / ``long_options`` form)   environment twin
``--image`` / ``--shifter.image``          ``SHIFTER_IMAGE`` (+ optional ``SHIFTER_IMAGETYPE``)
``--volume`` / ``--shifter.volume``        ``SHIFTER_VOLUME``
``--module`` / ``--shifter.module``        ``SHIFTER_MODULE``
``--ccm``                                   ``SHIFTER_CCM=1``

An option wins over its twin.  The twins let submitters that cannot pass SPANK
options (workflow tools wrapping sbatch) ask for the same thing; ``--volume`` and
``--module`` twins only count when an image is requested, so a user's
``SHIFTER_VOLUME`` for interactive ``shifter`` runs never breaks a plain sbatch.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from shifter_slurm.errors import ShifterSlurmError

if TYPE_CHECKING:
    from shifter_runtime.config import UdiRootConfig

IMAGE_TYPES = ("docker", "custom", "id", "local")
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_:.+-@")
_ID_CHARS = frozenset(string.hexdigits)
MAX_IMAGE_LEN = 1024


@dataclass(frozen=True)
class Request:
    """A validated request, as the submit side and the prolog see it."""

    image_type: str | None = None
    image: str | None = None
    volumes: str | None = None
    modules: str | None = None
    ccm: bool = False
    image_source: str = field(default="--image", compare=False)  # the option or variable named in errors


def option_name(name: str, long_options: bool) -> str:
    """The spelling users type: ``--image`` or ``--shifter.image``."""
    return f"--shifter.{name}" if long_options else f"--{name}"


def parse_image(text: str, default_type: str | None, what: str) -> tuple[str, str]:
    """Split ``[type:]tag`` into (type, tag); ``what`` names the source in errors."""
    if len(text) > MAX_IMAGE_LEN:
        raise ShifterSlurmError(f"{what}: image name is {len(text)} characters long (at most {MAX_IMAGE_LEN})")
    head, sep, rest = text.partition(":")
    if sep and head in IMAGE_TYPES:
        itype, tag = head, rest
    else:
        if not default_type:
            raise ShifterSlurmError(f"{what}: '{text}' has no image type and defaultImageType is not set")
        itype, tag = default_type, text
    if not tag:
        raise ShifterSlurmError(f"{what}: empty image name in '{text}'")
    allowed = _TAG_CHARS | ({"/"} if itype in ("docker", "local") else set())
    if itype == "id":
        allowed = _ID_CHARS
    bad = [c for c in tag if c not in allowed]
    if bad:
        raise ShifterSlurmError(f"{what}: character '{bad[0]}' not allowed in {itype} image '{tag}'")
    if itype == "local":
        from shifter_runtime.imagespec import local_path_problem

        problem = local_path_problem(tag)
        if problem:
            raise ShifterSlurmError(f"{what}: local image '{tag}' {problem}")
    return itype, tag


def parse_env_image(environ: Mapping[str, str], default_type: str | None) -> tuple[str, str, str]:
    """(type, tag, source) of ``SHIFTER_IMAGE`` (+ ``SHIFTER_IMAGETYPE``)."""
    itype = environ.get("SHIFTER_IMAGETYPE")
    if not itype:
        return (*parse_image(environ["SHIFTER_IMAGE"], default_type, "SHIFTER_IMAGE"), "SHIFTER_IMAGE")
    if itype not in IMAGE_TYPES:
        raise ShifterSlurmError(f"SHIFTER_IMAGETYPE: unknown image type '{itype}' "
                                f"(expected one of {', '.join(IMAGE_TYPES)})")
    what = "SHIFTER_IMAGETYPE/SHIFTER_IMAGE"
    return (*parse_image(f"{itype}:{environ['SHIFTER_IMAGE']}", None, what), what)


def check_volumes(text: str, what: str) -> str:
    """Check a user volume list with the runtime's rules (``from:to[:flags];...``)."""
    from shifter_runtime.errors import VolumeError
    from shifter_runtime.volumes import parse_volumes

    try:
        parse_volumes(text, site=False)
    except VolumeError as exc:
        raise ShifterSlurmError(f"{what}: {exc}") from None
    return text


def check_modules(text: str, what: str) -> str:
    """Check the syntax of a comma-separated module list (:func:`check_site_modules`
    checks the names against the site's modules at submission)."""
    names = [n.strip() for n in text.split(",")]
    for name in names:
        if not name or any(c not in string.ascii_letters + string.digits + "-." for c in name):
            raise ShifterSlurmError(f"{what}: bad module name '{name}' in '{text}'")
    return ",".join(names)


def check_site_modules(text: str, what: str, site: "UdiRootConfig") -> None:
    """Refuse what setupRoot -m would refuse on the node: unknown or disabled
    modules, ``none`` with others, conflicting modules."""
    from shifter_runtime.errors import ModuleError
    from shifter_runtime.modules import resolve_modules

    try:
        resolve_modules(text, site, source=what)
    except ModuleError as exc:
        raise ShifterSlurmError(str(exc)) from None


def gather(
    options: Mapping[str, str | None],
    environ: Mapping[str, str],
    *,
    default_type: str | None,
    long_options: bool = False,
    ccm_enabled: bool = False,
    site: "UdiRootConfig | None" = None,
) -> Request:
    """Combine option values and environment twins into a validated Request.

    With ``site``, modules are also checked against its module definitions.
    """
    def name(opt: str) -> str:
        return option_name(opt, long_options)

    image_opt = options.get("image")
    source: str = name("image")
    if image_opt is not None:
        itype, tag = parse_image(image_opt, default_type, source)
    elif environ.get("SHIFTER_IMAGE"):
        itype, tag, source = parse_env_image(environ, default_type)
    else:
        itype = tag = None

    ccm = options.get("ccm") is not None or environ.get("SHIFTER_CCM") == "1"
    if ccm:
        ccm_name = "--ccm" if options.get("ccm") is not None else "SHIFTER_CCM"
        if not ccm_enabled:
            raise ShifterSlurmError(f"{ccm_name}: ccm mode is not enabled on this cluster (enable_ccm=1)")
        if image_opt is not None and (itype, tag) != ("local", "/"):
            raise ShifterSlurmError(f"{ccm_name} cannot be combined with {name('image')}")
        itype, tag, source = "local", "/", ccm_name

    vol_opt, mod_opt = options.get("volume"), options.get("module")
    if tag is None:
        for opt, val in (("volume", vol_opt), ("module", mod_opt)):
            if val is not None:
                raise ShifterSlurmError(f"{name(opt)} needs {name('image')}")
        return Request()
    volumes = (check_volumes(vol_opt, name("volume")) if vol_opt is not None
               else check_volumes(environ["SHIFTER_VOLUME"], "SHIFTER_VOLUME") if environ.get("SHIFTER_VOLUME")
               else None)
    mod_source = name("module") if mod_opt is not None else "SHIFTER_MODULE"
    mod_text = mod_opt if mod_opt is not None else environ.get("SHIFTER_MODULE") or None
    modules = check_modules(mod_text, mod_source) if mod_text is not None else None
    if modules is not None and site is not None:
        check_site_modules(modules, mod_source, site)
    return Request(image_type=itype, image=tag, volumes=volumes or None, modules=modules, ccm=ccm,
                   image_source=source)
