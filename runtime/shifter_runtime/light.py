"""Light stand-ins for ``dataclasses``, ``typing`` and ``gettext`` on the hot paths.

Importing the real modules costs more than starting Python itself (``inspect``,
``ast``, ``re``... about 12 ms here, plus code generation per record class;
``getopt`` and ``argparse`` pull in ``gettext`` and with it ``locale`` and
``re``, 5 ms more).  The runtime's records only use ``@dataclass`` (optionally
``frozen``), ``field(default=..., default_factory=...)`` and, in annotations
that are never evaluated (every module has ``from __future__ import
annotations``), ``typing`` names; nothing is translated.  :func:`install`
puts small equivalents in ``sys.modules`` for the ``shifter``, ``setupRoot``
and ``unsetupRoot`` processes only, and only if no real module is loaded
yet.  Any other name asked of a stand-in loads the real module and answers
from it, so nothing breaks, it only gets slower.
"""
from __future__ import annotations

import sys

_MISSING = object()


class _Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: object, default_factory: object) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: object = _MISSING, default_factory: object = _MISSING,
          **_ignored: object) -> object:
    """``dataclasses.field`` with the two arguments the records use."""
    return _Field(default, default_factory)


def _make_init(names: tuple[str, ...], defaults: dict[str, object], frozen: bool):
    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        values = dict(zip(names, args))
        for name in names[len(args):]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
                continue
            default = defaults.get(name, _MISSING)
            if isinstance(default, _Field):
                default = (default.default_factory() if default.default_factory
                           is not _MISSING else default.default)
            if default is _MISSING:
                raise TypeError(f"{type(self).__name__}: missing argument {name!r}")
            values[name] = default
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected {sorted(kwargs)}")
        for name, value in values.items():
            object.__setattr__(self, name, value)
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()
    return __init__


def _fields_of(cls: type) -> tuple[tuple[str, ...], dict[str, object]]:
    names: list[str] = []
    defaults: dict[str, object] = {}
    for base in reversed(cls.__mro__[1:]):
        for name in getattr(base, "__light_fields__", ()):
            if name not in names:
                names.append(name)
        defaults.update(getattr(base, "__light_defaults__", {}))
    for name in cls.__dict__.get("__annotations__", {}):
        if name not in names:
            names.append(name)
        if name in cls.__dict__:
            defaults[name] = cls.__dict__[name]
            if isinstance(defaults[name], _Field):
                delattr(cls, name)
    return tuple(names), defaults


def dataclass(cls: type | None = None, /, *, frozen: bool = False, **_ignored: object):
    """``dataclasses.dataclass``: ``__init__``, ``__repr__``, ``__eq__`` (and
    ``__hash__`` plus read-only attributes when ``frozen``)."""
    def wrap(cls: type) -> type:
        names, defaults = _fields_of(cls)
        cls.__light_fields__ = names
        cls.__light_defaults__ = defaults
        cls.__init__ = _make_init(names, defaults, frozen)

        def key(self):
            return tuple(getattr(self, n) for n in names)

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return key(self) == key(other)

        def __repr__(self):
            body = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
            return f"{type(self).__qualname__}({body})"

        cls.__eq__ = __eq__
        cls.__repr__ = __repr__
        if frozen:
            def __setattr__(self, name, value):
                raise AttributeError(f"cannot assign to field {name!r}")
            cls.__setattr__ = __setattr__
            cls.__hash__ = lambda self: hash(key(self))
        else:
            cls.__hash__ = None
        return cls
    return wrap if cls is None else wrap(cls)


def _stand_in(name: str, attrs: dict[str, object]):
    module = type(sys)(name, f"light stand-in for {name}")  # types.ModuleType, unimported
    module.__dict__.update(attrs)

    def __getattr__(attr: str) -> object:
        if attr.startswith("__"):
            raise AttributeError(attr)
        sys.modules.pop(name, None)
        import importlib
        real = importlib.import_module(name)
        return getattr(real, attr)
    module.__getattr__ = __getattr__
    return module


class Protocol:
    """``typing.Protocol`` as a plain base class (structural checks are mypy's job)."""

    __slots__ = ()


def _identity(message: str, *_args: object) -> str:
    return message


def _ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def install() -> None:
    """Put the stand-ins in ``sys.modules`` unless a real module is already loaded."""
    if {"dataclasses", "typing", "gettext"} & set(sys.modules):
        return
    from _collections_abc import Iterable, Iterator, Mapping, Sequence
    sys.modules["dataclasses"] = _stand_in(
        "dataclasses", {"dataclass": dataclass, "field": field, "MISSING": _MISSING})
    annotation_only = {name: object for name in ("Any", "Optional", "Literal")}
    sys.modules["typing"] = _stand_in(
        "typing", {"Iterable": Iterable, "Iterator": Iterator, "Mapping": Mapping,
                   "Sequence": Sequence, "Protocol": Protocol, "TYPE_CHECKING": False,
                   **annotation_only})
    sys.modules["gettext"] = _stand_in(
        "gettext", {"gettext": _identity, "ngettext": _ngettext})
