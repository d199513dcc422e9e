"""shifterimg names the udiRoot.conf and the key when imageGateway or system is missing."""
import pytest

from shifter_imagegw.client import cli
from shifter_runtime.config import parse_config

pytestmark = pytest.mark.unit

BASE = ("udiMount=/var/udiMount\nloopMount=/var/udiLoopMount\nimagePath=/images\n"
        "udiRootPath=/opt/shifter\netcPath=/etc/shifter/etc_files\nrootfsType=tmpfs\n")


@pytest.mark.parametrize("extra, message", [
    ("system=lab\n", "shifterimg: no imageGateway configured in /site/u.conf\n"),
    ("imageGateway=http://gw:5000\n", "shifterimg: no 'system' configured in /site/u.conf\n"),
])
def test_missing_gateway_key_names_file_and_key(monkeypatch, capsys, extra, message):
    monkeypatch.setattr(cli, "_site", lambda path: parse_config(BASE + extra, path))
    assert cli.main(["-c", "/site/u.conf", "images"]) == 1
    assert capsys.readouterr().err == message
