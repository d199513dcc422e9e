"""Every runtime error prints as one line naming where the problem is."""
from __future__ import annotations

import pytest

from shifter_runtime.errors import (ConfigError, ImageError, ShifterError,
                                    UsageError, VolumeError)

pytestmark = pytest.mark.unit


def test_config_error_full():
    err = ConfigError("/etc/shifter/udiRoot.conf", 12, "siteFs", "bad map")
    assert str(err) == "/etc/shifter/udiRoot.conf:12: siteFs: bad map"
    assert (err.path, err.line, err.key, err.msg) == (
        "/etc/shifter/udiRoot.conf", 12, "siteFs", "bad map")


def test_config_error_without_line_or_key():
    assert str(ConfigError("u.conf", None, None, "not root")) == \
        "u.conf: not root"
    assert str(ConfigError("u.conf", 3, None, "x")) == "u.conf:3: x"
    assert str(ConfigError("u.conf", None, "udiMount", "missing")) == \
        "u.conf: udiMount: missing"


@pytest.mark.parametrize("cls", [ShifterError, UsageError, ImageError,
                                 VolumeError])
def test_one_line(cls):
    err = cls("first\nsecond")
    assert str(err) == "first second"
    assert isinstance(err, ShifterError)


def test_config_error_is_shifter_error():
    assert isinstance(ConfigError("p", 1, "k", "m"), ShifterError)
