"""Module selection: --module, SHIFTER_MODULE, defaultModules, none,
unknown, disabled and conflicting modules."""
from __future__ import annotations

import pytest

from shifter_runtime.config import ModuleConfig, UdiRootConfig
from shifter_runtime.errors import ModuleError
from shifter_runtime.modules import (check_conflicts, modules_signature,
                                     module_request, parse_selection,
                                     resolve_modules)

pytestmark = pytest.mark.unit


def site(defaults=("a",)) -> UdiRootConfig:
    modules = {
        "a": ModuleConfig("a"),
        "b": ModuleConfig("b", conflict=["c"]),
        "c": ModuleConfig("c"),
        "off": ModuleConfig("off", enabled=False),
    }
    return UdiRootConfig(modules=modules, default_modules=list(defaults))


def names(mods) -> list[str]:
    return [m.name for m in mods]


def test_defaults_when_nothing_requested():
    assert names(resolve_modules(None, site(), source="--module")) == ["a"]
    assert names(resolve_modules(None, site(defaults=()), source="--module")) == []


def test_request_replaces_defaults_in_given_order():
    assert names(resolve_modules("c,a", site(), source="--module")) == ["c", "a"]


def test_none_disables_all():
    assert resolve_modules("none", site(), source="--module") == []


def test_duplicates_dropped():
    assert names(resolve_modules("a,a", site(), source="--module")) == ["a"]


def test_whitespace_around_names():
    assert names(resolve_modules(" a , c ", site(), source="--module")) == ["a", "c"]


@pytest.mark.parametrize("request_text, message", [
    ("ghost", "--module: unknown shifter module 'ghost'"),
    ("off", "--module: shifter module 'off' is disabled by the site"),
    ("b,c", "--module: shifter modules 'b' and 'c' conflict"),
    ("c,b", "--module: shifter modules 'b' and 'c' conflict"),
    ("", "--module: empty module list (use 'none')"),
    ("a,,c", "--module 'a,,c': empty module name"),
    ("none,a", "--module 'none,a': 'none' cannot be combined with modules"),
])
def test_bad_selection(request_text, message):
    with pytest.raises(ModuleError) as info:
        resolve_modules(request_text, site(), source="--module")
    assert str(info.value) == message


def test_disabled_default_module_refused():
    with pytest.raises(ModuleError) as info:
        resolve_modules(None, site(defaults=("off",)), source="--module")
    assert str(info.value) == ("defaultModules: shifter module 'off' is "
                               "disabled by the site")


def test_module_request_precedence_and_source():
    env = {"SHIFTER_MODULE": "a", "SLURM_SPANK_SHIFTER_MODULE": "b"}
    assert module_request("c", env) == ("--module", "c")
    assert module_request(None, env) == ("SHIFTER_MODULE", "a")
    assert module_request(None, {"SLURM_SPANK_SHIFTER_MODULE": "b"}) == \
        ("SLURM_SPANK_SHIFTER_MODULE", "b")
    assert module_request(None, {"SHIFTER_MODULE": ""}) == ("SHIFTER_MODULE", "")
    assert module_request(None, {}) == ("defaultModules", None)


@pytest.mark.parametrize("source, request_text, message", [
    ("SHIFTER_MODULE", "nosuch", "SHIFTER_MODULE: unknown shifter module 'nosuch'"),
    ("SLURM_SPANK_SHIFTER_MODULE", "nosuch",
     "SLURM_SPANK_SHIFTER_MODULE: unknown shifter module 'nosuch'"),
    ("SHIFTER_MODULE", "", "SHIFTER_MODULE: empty module list (use 'none')"),
    ("SHIFTER_MODULE", "a,,c", "SHIFTER_MODULE 'a,,c': empty module name"),
    ("-m", "off", "-m: shifter module 'off' is disabled by the site"),
])
def test_errors_name_the_source(source, request_text, message):
    with pytest.raises(ModuleError) as info:
        resolve_modules(request_text, site(), source=source)
    assert str(info.value) == message


def test_parse_selection():
    assert parse_selection("a,b", source="-m") == ["a", "b"]
    assert parse_selection("none", source="-m") is None


def test_conflict_declared_on_either_side():
    b = ModuleConfig("b", conflict=["c"])
    with pytest.raises(ModuleError) as info:
        check_conflicts([ModuleConfig("c"), b], "SHIFTER_MODULE")
    assert str(info.value) == "SHIFTER_MODULE: shifter modules 'b' and 'c' conflict"
    check_conflicts([b, ModuleConfig("a")], "SHIFTER_MODULE")


def test_signature():
    assert modules_signature([]) == ""
    assert modules_signature([ModuleConfig("a"), "b"]) == "a,b,"
