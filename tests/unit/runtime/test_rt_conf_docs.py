"""docs/udiroot-conf.md cannot drift from the parser: every key the parser knows
has exactly one row in the page's tables, and every row names a key the parser
knows.  The key sets come from config.py's own tables (``_KEYS``,
``DEPRECATED_KEYS``, ``_MODULE_KEYS``/``MODULE_SUBKEYS``), never from a list
copied here."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from shifter_runtime import config as configmod
from shifter_runtime.config import (DEPRECATED_KEYS, MODULE_SUBKEYS,
                                    REQUIRED_KEYS, parse_config)
from shifter_runtime.errors import ConfigError
from test_rt_config import BASE  # the required keys, the smallest valid file

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "udiroot-conf.md"
MODULE_ROW = re.compile(r"^module_<name>_(\w+)$")


def _sections() -> dict[str, list[str]]:
    """``## heading`` -> its lines (up to the next ``##`` heading)."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def _rows(heading_start: str) -> list[tuple[str, str]]:
    """(first-cell key, whole row) of the table rows of the section whose heading
    starts with ``heading_start``; a key row's first cell is one backticked word."""
    matches = [lines for name, lines in _sections().items()
               if name.startswith(heading_start)]
    assert len(matches) == 1, f"expected one '## {heading_start}...' section in {DOC}"
    rows = []
    for line in matches[0]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells[0].startswith("`") and cells[0].endswith("`"):
            rows.append((cells[0][1:-1], line))
    return rows


def _once(keys: list[str], what: str) -> set[str]:
    twice = sorted(k for k, n in Counter(keys).items() if n > 1)
    assert not twice, f"{what}: rows given twice in {DOC.name}: {twice}"
    return set(keys)


def test_every_parser_key_has_exactly_one_row_and_no_row_is_unknown():
    documented = _once([k for k, _ in _rows("Keys")], "Keys")
    known = set(configmod._KEYS)
    assert known - documented == set(), \
        f"keys the parser accepts but {DOC.name} does not document"
    assert documented - known == set(), \
        f"keys {DOC.name} documents but the parser does not accept"


def test_deprecated_keys_are_listed_exactly():
    documented = _once([k for k, _ in _rows("Deprecated keys")], "Deprecated keys")
    assert documented == set(DEPRECATED_KEYS)
    assert not documented & set(configmod._KEYS)


def test_every_module_subkey_has_exactly_one_row():
    names = [k for k, _ in _rows("Module keys")]
    subkeys = []
    for name in names:
        found = MODULE_ROW.match(name)
        assert found, f"module row '{name}' is not module_<name>_<subkey>"
        subkeys.append(found.group(1))
    documented = _once(subkeys, "Module keys")
    assert documented == set(configmod._MODULE_KEYS) == set(MODULE_SUBKEYS)


def test_required_keys_are_marked_required():
    rows = dict(_rows("Keys"))
    for key in REQUIRED_KEYS:
        assert "| required |" in rows[key], f"{key}: default cell should say 'required'"
    for key, row in rows.items():
        if key not in REQUIRED_KEYS:
            assert "| required |" not in row, f"{key} is not required by the parser"


def test_documented_keys_are_accepted_by_the_parser():
    """The page's keys pass the real parser (an empty value is ignored, so only
    the key itself is checked); a key missing from it would be 'unknown key'."""
    for key, _ in _rows("Keys") + _rows("Deprecated keys"):
        parse_config(BASE + f"{key}=\n", "doc.conf")
    for name, _ in _rows("Module keys"):
        parse_config(BASE + name.replace("<name>", "doc") + "=\n", "doc.conf")


def test_an_undocumented_key_is_still_refused():
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(BASE + "notAKey=1\n", "doc.conf")
