"""Which site modules are active (inventory §3.7).

The selection text comes from ``--module`` (command line), else
``SHIFTER_MODULE`` / ``SLURM_SPANK_SHIFTER_MODULE``, else ``setupRoot -m``;
without any, ``defaultModules`` applies.  A selection is a comma list that
*replaces* the defaults; ``none`` selects nothing.  Unknown module -> error;
a disabled module (``enabled=0``) -> error naming it as disabled (upstream
warns, ignores it, then fails with "Unknown shifter module" -- same outcome,
clearer message); two modules that conflict (declared on either side) ->
error.  Order of application is the order given; duplicates are dropped.
Errors name where the selection came from: the option, the variable that was
read (:func:`module_request`), or ``defaultModules``.

The active names form the reuse signature (``modules`` in
``shifterConfig.json``): each name followed by a comma, e.g. ``"a,b,"``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .config import ModuleConfig, UdiRootConfig
from .errors import ModuleError
from .launchenv import MODULE_ENV, first_set


def module_request(cli_modules: str | None,
                   environ: Mapping[str, str]) -> tuple[str, str | None]:
    """``(source, text)`` of the module request by precedence: ``--module``,
    then the first variable of ``MODULE_ENV`` that is set (``source`` is its
    name); ``("defaultModules", None)`` when there is none."""
    if cli_modules is not None:
        return "--module", cli_modules
    return first_set(environ, MODULE_ENV) or ("defaultModules", None)


def parse_selection(text: str, *, source: str) -> list[str] | None:
    """Split a comma list; ``None`` result means ``none`` (nothing at all).

    Raises ModuleError, naming ``source``, on empty names or ``none`` mixed
    with modules.
    """
    names = [n.strip() for n in text.split(",")]
    if names == [""]:
        raise ModuleError(f"{source}: empty module list (use 'none')")
    if any(not n for n in names):
        raise ModuleError(f"{source} '{text}': empty module name")
    if "none" in names:
        if len(names) > 1:
            raise ModuleError(f"{source} '{text}': 'none' cannot be "
                              f"combined with modules")
        return None
    return names


def resolve_modules(request: str | None, config: UdiRootConfig, *,
                    source: str) -> list[ModuleConfig]:
    """Active modules, in order, for a request (None = use defaults); errors
    name ``source``, the option or variable the request came from."""
    if request is None:
        names = list(config.default_modules)
        where = config.default_modules_origin
    else:
        parsed = parse_selection(request, source=source)
        names = parsed or []
        where = source
    active: list[ModuleConfig] = []
    for name in names:
        module = config.modules.get(name)
        if module is None:
            raise ModuleError(f"{where}: unknown shifter module '{name}'")
        if not module.enabled:
            raise ModuleError(f"{where}: shifter module '{name}' is "
                              f"disabled by the site")
        if module not in active:
            active.append(module)
    check_conflicts(active, where)
    return active


def check_conflicts(active: Sequence[ModuleConfig], where: str) -> None:
    """Refuse two active modules that conflict (declared on either side); the error
    names ``where``, the source of the selection."""
    names = {m.name for m in active}
    for module in active:
        for other in module.conflict:
            if other in names and other != module.name:
                raise ModuleError(f"{where}: shifter modules '{module.name}' and "
                                  f"'{other}' conflict")


def modules_signature(active: Sequence[ModuleConfig | str]) -> str:
    """Upstream's ``modules`` string: each name followed by ``,``."""
    return "".join(f"{m if isinstance(m, str) else m.name}," for m in active)
