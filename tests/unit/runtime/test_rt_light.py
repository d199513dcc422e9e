"""The light ``dataclasses``/``typing``/``gettext`` stand-ins every command installs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shifter_runtime import light

pytestmark = pytest.mark.unit

RUNTIME = str(Path(__file__).resolve().parents[3] / "runtime")


@light.dataclass
class Record:
    name: str
    items: list = light.field(default_factory=list)
    count: int = 3


@light.dataclass(frozen=True)
class Frozen:
    a: int
    b: str = "x"


@light.dataclass
class Child(Record):
    extra: str = "e"

    def __post_init__(self) -> None:
        self.seen = True


def test_init_defaults_and_factories_are_per_instance():
    one, two = Record("a"), Record("b", count=5)
    one.items.append(1)
    assert (one.name, one.items, one.count) == ("a", [1], 3)
    assert (two.name, two.items, two.count) == ("b", [], 5)


def test_missing_and_unexpected_arguments_raise():
    with pytest.raises(TypeError, match="missing argument 'name'"):
        Record()
    with pytest.raises(TypeError, match="unexpected"):
        Record("a", bogus=1)
    with pytest.raises(TypeError, match="too many"):
        Frozen(1, "b", 3)


def test_frozen_records_are_read_only_and_hashable():
    rec = Frozen(1)
    with pytest.raises(AttributeError):
        rec.a = 2
    assert rec == Frozen(1, "x") and rec != Frozen(2)
    assert len({rec, Frozen(1)}) == 1


def test_inheritance_repr_and_post_init():
    child = Child("n", extra="z")
    assert (child.name, child.count, child.extra, child.seen) == ("n", 3, "z", True)
    assert repr(child) == "Child(name='n', items=[], count=3, extra='z')"
    assert Record("a") == Record("a") and Record("a") != Child("a")


def _python(code: str, setup: str = "from shifter_runtime import light; light.install()\n"
            ) -> str:
    """Run ``code`` in a fresh ``python -IS`` that sees the runtime and ran ``setup``;
    returns its output (it must succeed)."""
    script = f"import sys; sys.path.insert(0, {RUNTIME!r})\n{setup}{code}"
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


HEAVY = "{'inspect', 'ast', 're', 'json', 'enum', 'signal', 'functools', 'ctypes', 'locale'}"
# What setupRoot's ``setup`` imports before it builds (cli/setuproot.py).
SETUP_IMPORTS = ("build", "build.account", "build.adapt", "build.image_data", "config",
                 "imagespec", "modules", "volumes")


@pytest.mark.parametrize("modules", [
    ("launch.flow",),
    ("cli.setuproot", *SETUP_IMPORTS),
    ("cli.unsetuproot", "build.teardown", "config"),
], ids=["shifter", "setupRoot", "unsetupRoot"])
def test_commands_import_neither_inspect_nor_typing(modules):
    """The commands must not pull the heavy modules back in (start-up time guard)."""
    imports = "".join(f"import shifter_runtime.{name}\n" for name in modules)
    out = _python(
        f"{imports}"
        f"heavy = sorted({HEAVY} & set(sys.modules))\n"
        "print(heavy, *(sys.modules[m].__doc__ for m in ('typing', 'dataclasses', 'gettext')),\n"
        "      sep='; ')\n",
        setup="import shifter_runtime.cli\n")  # installs the stand-ins, as every command does
    assert out.strip() == ("[]; light stand-in for typing; light stand-in for "
                           "dataclasses; light stand-in for gettext")


def test_pure_records_work_under_the_stand_ins():
    out = _python(
        "from shifter_runtime.options import parse_options\n"
        "from shifter_runtime.config import parse_config\n"
        "from shifter_runtime.state import ContainerState\n"
        "o = parse_options(['-e', 'A=1', '--image=id:x', 'ls'])\n"
        "c = parse_config('udiMount=/u\\nloopMount=/l\\nimagePath=/i\\nudiRootPath=/r\\n"
        "etcPath=/e\\nrootfsType=tmpfs\\nsiteFs=/home:/home\\n')\n"
        "print(o.env, o.image, o.args, c.udi_mount, [v.target for v in c.site_fs],\n"
        "      ContainerState('i', 'u').to_json())\n")
    assert out.strip() == ("[('A', '1')] id:x ['ls'] /u ['/home'] "
                           '{"identifier":"i","user":"u","volMap":"","modules":""}')


def test_other_names_fall_back_to_the_real_modules():
    out = _python(
        "from typing import Callable, Mapping\n"
        "import dataclasses, gettext\n"
        "print(Callable, Mapping.__module__, dataclasses.fields.__module__,\n"
        "      gettext.translation.__module__)\n")
    assert out.split() == ["typing.Callable", "collections.abc", "dataclasses",
                           "gettext"]


def test_getopt_and_argparse_work_without_translations():
    out = _python(
        "import getopt\n"
        "try:\n"
        "    getopt.getopt(['-x'], 'c:')\n"
        "except getopt.GetoptError as err:\n"
        "    print(err)\n"
        "print(type(sys.modules['gettext']).__name__, 'locale' in sys.modules)\n")
    assert out.splitlines() == ["option -x not recognized", "module False"]


def test_install_is_a_no_op_once_the_real_modules_are_loaded():
    import dataclasses
    light.install()
    assert sys.modules["dataclasses"] is dataclasses
