"""imagemanager.json validation: every error names the key."""
import json

import pytest

from shifter_imagegw.config import ConfigError, load_config, parse_config, parse_duration

pytestmark = pytest.mark.unit


def base(**extra):
    doc = {"Platforms": {"lab": {"mungeSocketPath": "/run/munge/munge.socket.2",
                                 "accesstype": "local", "local": {"imageDir": "/images"},
                                 "admins": ["root"]}},
           "CacheDirectory": "/var/cache/gw", "ExpandDirectory": "/var/tmp/gw"}
    doc.update(extra)
    return doc


def test_minimal_config_defaults():
    cfg = parse_config(base())
    assert cfg.platforms["lab"].image_dir == "/images"
    assert cfg.platforms["lab"].admins == ("root",)
    assert cfg.pull_update_timeout == 300.0
    assert cfg.expiration_timeout == 90 * 86400
    assert cfg.mongo_uri is None and cfg.default_format == "squashfs"


def test_examiner_is_optional():
    assert parse_config(base()).examiner is None
    assert parse_config(base(examiner="")).examiner is None
    assert parse_config(base(examiner="/usr/local/bin/scan")).examiner == "/usr/local/bin/scan"


def test_pull_update_timeout_is_honoured():
    assert parse_config(base(PullUpdateTimeout=42)).pull_update_timeout == 42.0


@pytest.mark.parametrize("doc, key", [
    ({}, "Platforms: required key is missing"),
    (base(Platforms={}), "Platforms: at least one"),
    (base(Platforms={"lab": {"accesstype": "ftp"}}), "Platforms.lab.accesstype"),
    (base(Platforms={"lab": {"accesstype": "local"}}), "Platforms.lab.local"),
    (base(Platforms={"lab": {"accesstype": "local", "local": {"imageDir": "rel"}}}),
     "Platforms.lab.imageDir"),
    (base(Platforms={"lab": {"accesstype": "remote", "ssh": {"imageDir": "/i", "username": "u"}}}),
     "Platforms.lab.host"),
    (base(Platforms={"lab": {"local": {"imageDir": "/i"}, "admins": "root"}}),
     "Platforms.lab.admins"),
    (base(PullUpdateTimeout="soon"), "PullUpdateTimeout"),
    (base(PullUpdateTimeout=True), "PullUpdateTimeout"),
    (base(ImageExpirationTimeout="1:x"), "ImageExpirationTimeout"),
    (base(Authentication="mock"), "Authentication"),
    (base(DefaultImageFormat="cramfs"), "DefaultImageFormat"),
    (base(Locations={"r": {"authMethod": "digest"}}), "Locations.r.authMethod"),
    (base(ConverterOptions={"squashfs": 3}), "ConverterOptions.squashfs"),
    (base(CacheDirectory="cache"), "CacheDirectory"),
    (base(Bind="8000"), "Bind"),
    (base(Metrics="yes"), "Metrics"),
    (base(Bogus=1), "Bogus: unknown key"),
    (base(ImportUsers=[1]), "ImportUsers"),
    (base(examiner="scan.sh"), "examiner: 'scan.sh' is not an absolute path"),
    (base(examiner=["/bin/scan"]), "examiner: expected str"),
])
def test_errors_name_the_key(doc, key):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, "/etc/shifter/imagemanager.json")
    assert str(err.value).startswith("/etc/shifter/imagemanager.json: ")
    assert key in str(err.value)


def test_load_reports_json_syntax_line(tmp_path):
    path = tmp_path / "imagemanager.json"
    path.write_text('{\n "Platforms": {,\n}')
    with pytest.raises(ConfigError, match=r"imagemanager.json:2: invalid JSON"):
        load_config(str(path))


def test_load_from_gwconfig(tmp_path, monkeypatch):
    path = tmp_path / "gw.json"
    path.write_text(json.dumps(base(MongoDBURI="mongodb://localhost/", MongoDB="S")))
    monkeypatch.setenv("GWCONFIG", str(path))
    cfg = load_config()
    assert cfg.mongo_uri == "mongodb://localhost/" and cfg.mongo_db == "S"


def test_missing_file():
    with pytest.raises(ConfigError, match="/nonexistent.json: cannot read"):
        load_config("/nonexistent.json")


@pytest.mark.parametrize("text, seconds", [("90:00:00:00", 90 * 86400), ("1:2:3:4", 93784),
                                           ("10", 10), ("2:00", 120)])
def test_duration(text, seconds):
    assert parse_duration(text, "k") == seconds


@pytest.mark.parametrize("value, user, allowed", [
    (None, "alice", False), ("none", "alice", False), ("all", "alice", True),
    (["alice"], "alice", True), (["alice"], "ali", False), ("alice,bob", "bob", True)])
def test_import_users(value, user, allowed):
    doc = base() if value is None else base(ImportUsers=value)
    assert parse_config(doc).may_import(user) is allowed
