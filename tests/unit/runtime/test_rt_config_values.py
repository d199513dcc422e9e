"""udiRoot.conf values that used to pass the parser and fail later with a
traceback or a misleading line: control characters, imageGateway URLs,
unbounded integers and sizes, paths with blanks, a disabled default module."""
from __future__ import annotations

import pytest

from shifter_runtime.config import load_config, parse_config
from shifter_runtime.errors import ConfigError, ModuleError, VolumeError
from shifter_runtime.modules import resolve_modules
from shifter_runtime.volumes import parse_bytes, parse_entry

from test_rt_config import BASE, error, parse

pytestmark = pytest.mark.unit


# ---- control characters ---------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    ("siteEnv=A=b\0c\n",
     "u.conf:7: siteEnv: control character U+0000 at column 12 (only tab is "
     "allowed)"),
    ("udiMount=/tmp/u\0di\n",
     "u.conf:7: udiMount: control character U+0000 at column 16 (only tab "
     "is allowed)"),
    ("system=a\x1bb\n",
     "u.conf:7: system: control character U+001B at column 9 (only tab is "
     "allowed)"),
    ("siteEnv=A=b\rc\n",
     "u.conf:7: siteEnv: control character U+000D at column 12 (only tab is "
     "allowed)"),
    ("siteEnv=A=\x85\n",
     "u.conf:7: siteEnv: control character U+0085 at column 11 (only tab is "
     "allowed)"),
    ("# a comment\x07\n",
     "u.conf:7: control character U+0007 at column 12 (only tab is allowed)"),
    ("sy\0stem=x\n",
     "u.conf:7: control character U+0000 at column 3 (only tab is allowed)"),
    ("siteEnv=A=b \\\n  C=\0d\n",
     "u.conf:8: siteEnv: control character U+0000 at column 5 (only tab is "
     "allowed)"),
])
def test_control_characters_refused_with_line_and_column(extra, message):
    assert error(extra) == message


def test_crlf_line_ends_and_tabs_still_accepted():
    config = parse_config((BASE + "system=lab\n").replace("\n", "\r\n")
                          + "siteEnv=A=1\tB=2\n", "u.conf")
    assert config.system == "lab"
    assert config.site_env == [("A", "1"), ("B", "2")]


def test_nul_byte_in_a_file_refused(tmp_path):
    path = tmp_path / "udiRoot.conf"
    path.write_bytes(BASE.encode() + b"siteEnv=A=b\x00c\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), check_owner=False)
    assert str(info.value) == (f"{path}:7: siteEnv: control character U+0000 "
                               f"at column 12 (only tab is allowed)")


# ---- imageGateway ---------------------------------------------------------

@pytest.mark.parametrize("url, problem", [
    ("http://[x", "'http://[x': '[' without ']' in the host"),
    ("http://[zz]:80", "'http://[zz]:80': 'zz' is not an IPv6 address"),
    ("http://[::1]x", "'http://[::1]x': 'x' after the host"),
    ("http://", "'http://' has no host"),
    ("http://:5000", "'http://:5000' has no host"),
    ("http://gw:0", "'http://gw:0': the port must be a number from 1 to 65535"),
    ("http://gw:65536",
     "'http://gw:65536': the port must be a number from 1 to 65535"),
    ("http://gw:", "'http://gw:': the port must be a number from 1 to 65535"),
    ("http://gw:x1", "'http://gw:x1': the port must be a number from 1 to 65535"),
    ("http://gw:1:2", "'http://gw:1:2': the port must be a number from 1 to 65535"),
    ("http://u:p@gw", "'http://u:p@gw': a user name in the URL is not supported"),
    ("http://gw/api?x=1", "'http://gw/api?x=1': a query or fragment is not allowed"),
    ("http://g%77", "'http://g%77': character '%' not allowed in the host"),
    ("ftp://gw", "'ftp://gw' is not an http(s) URL"),
])
def test_bad_gateway_urls(url, problem):
    assert error(f"imageGateway={url}\n") == f"u.conf:7: imageGateway: {problem}"


def test_good_gateway_urls():
    config = parse("imageGateway=http://gw-1.example.org:5000/ "
                   "https://[::1]:443/api/ http://10.0.0.1\n")
    assert config.image_gateway == ["http://gw-1.example.org:5000",
                                    "https://[::1]:443/api", "http://10.0.0.1"]


# ---- integer ranges and sizes ---------------------------------------------

@pytest.mark.parametrize("extra, message", [
    ("gatewayTimeout=99999999999999999999999\n",
     "u.conf:7: gatewayTimeout: '99999999999999999999999' is out of range "
     "(0 to 86400)"),
    ("gatewayTimeout=86401\n",
     "u.conf:7: gatewayTimeout: '86401' is out of range (0 to 86400)"),
    ("maxGroupCount=65537\n",
     "u.conf:7: maxGroupCount: '65537' is out of range (0 to 65536)"),
    ("maxGroupCount=1" + "0" * 5000 + "\n",
     "u.conf:7: maxGroupCount: '1" + "0" * 5000 + "' is out of range "
     "(0 to 65536)"),
    ("perNodeCacheSizeLimit=8e\n",
     "u.conf:7: perNodeCacheSizeLimit: size '8e' is too large (at most "
     "9223372036854775807 bytes)"),
    ("perNodeCacheSizeLimit=1" + "0" * 400 + ".5\n",
     "u.conf:7: perNodeCacheSizeLimit: size '1" + "0" * 400 + ".5' is too "
     "large (at most 9223372036854775807 bytes)"),
])
def test_integers_and_sizes_are_bounded(extra, message):
    assert error(extra) == message


def test_integer_bounds_inclusive():
    config = parse("gatewayTimeout=86400\nmaxGroupCount=0065536\n"
                   "perNodeCacheSizeLimit=9223372036854775807\n")
    assert config.gateway_timeout == 86400
    assert config.max_group_count == 65536
    assert config.per_node_cache_size_limit == (1 << 63) - 1
    assert parse("gatewayTimeout=0\n").gateway_timeout == 0


# ---- paths ----------------------------------------------------------------

def test_path_with_blank_names_the_blank():
    assert error("optUdiImage=/tmp/a b\n") == (
        "u.conf:7: optUdiImage: '/tmp/a b': a path may not contain blanks")


# ---- perNodeCache sizes ---------------------------------------------------

@pytest.mark.parametrize("size, message", [
    ("100m", "volume '/tmp:/x:perNodeCache=size=100m': perNodeCache size "
             "104857600 is below the xfs minimum of 300 MiB (314572800 bytes)"),
    ("1", "volume '/tmp:/x:perNodeCache=size=1': perNodeCache size 1 is below "
          "the xfs minimum of 300 MiB (314572800 bytes)"),
    ("9" * 30, "volume '/tmp:/x:perNodeCache=size=" + "9" * 30 + "': "
               "perNodeCache size '" + "9" * 30 + "' is too large (at most "
               "9223372036854775807 bytes)"),
])
def test_per_node_cache_size_checked_when_parsing(size, message):
    with pytest.raises(VolumeError) as info:
        parse_entry(f"/tmp:/x:perNodeCache=size={size}")
    assert str(info.value) == message


def test_per_node_cache_minimum_accepted():
    mount = parse_entry("/tmp:/x:perNodeCache=size=300m")
    assert mount.per_node_cache.size == 300 << 20
    assert parse_bytes("7e") == 7 << 60


# ---- defaultModules -------------------------------------------------------

def test_disabled_default_module_names_its_line():
    config = parse("module_foo_siteEnv=FOO=1\nmodule_bar_siteEnv=B=1\n"
                   "defaultModules=bar\nmodule_foo_enabled=0\n"
                   "defaultModules=foo\n")
    with pytest.raises(ModuleError) as info:
        resolve_modules(None, config, source="--module")
    assert str(info.value) == ("u.conf:11: defaultModules: shifter module "
                               "'foo' is disabled by the site")
    assert resolve_modules("bar", config, source="--module")[0].name == "bar"


def test_undefined_default_module_names_its_own_line():
    assert error("module_a_enabled=1\ndefaultModules=a\ndefaultModules=b\n"
                 "system=x\n") == (
        "u.conf:9: defaultModules: module 'b' is not defined")
