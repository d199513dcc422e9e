"""shifterimg's pure parts: table, status line, id lists, credential file, answer shapes,
usage errors."""
import os
import re
import stat
import time

import pytest

from shifter_imagegw.client.api import (IN_PROGRESS, PULL_STATUSES, Answer, GatewayClient,
                                        GatewayError)
from shifter_imagegw.client.cli import (UsageError, format_images, main, progress_line,
                                        resolve_ids)
from shifter_imagegw.client.creds import read_entries, write_entries

pytestmark = pytest.mark.unit


def test_images_table_one_row_per_tag_sorted():
    when = time.mktime((2017, 7, 31, 10, 57, 2, 0, 0, -1))
    recs = [{"system": "vmcluster", "itype": "docker", "status": "READY",
             "id": "8ff7706743aaaaaaaaaa", "last_pull": when,
             "tag": ["ubuntu:latest", "alpine:3"]}]
    assert format_images(recs) == [
        "vmcluster  docker     READY    8ff7706743   2017-07-31T10:57:02 alpine:3",
        "vmcluster  docker     READY    8ff7706743   2017-07-31T10:57:02 ubuntu:latest"]
    assert format_images([]) == []


def test_progress_line_has_bar_only_with_byte_counts():
    rec = {"status": "PULLING", "progress": {"bytes_done": 5_000_000, "bytes_total": 10_000_000}}
    line = progress_line("docker", "ubuntu:22.04", rec, width=10)
    assert "Pulling Image: docker:ubuntu:22.04, status: PULLING" in line
    assert line.endswith("[#####.....] 5.0/10.0 MB")
    assert "[" not in progress_line("docker", "x", {"status": "READY"})


def test_resolve_ids_names_and_numbers():
    import pwd
    assert resolve_ids("1000, 1001", "--user", pwd.getpwnam, "pw_uid") == [1000, 1001]
    with pytest.raises(UsageError, match="--user: unknown name 'nobody-xyz'"):
        resolve_ids("nobody-xyz", "--user", pwd.getpwnam, "pw_uid")
    with pytest.raises(UsageError, match="--group: '0' must not be root"):
        resolve_ids("0", "--group", pwd.getpwnam, "pw_uid")


def test_credential_file_roundtrip_mode_0600(tmp_path):
    path = tmp_path / ".udiRoot" / ".cred"
    write_entries(path, {("lab", "default"): "MUNGE:abc:", ("lab", "reg"): "MUNGE:def:"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == "lab:default=MUNGE:abc:\nlab:reg=MUNGE:def:\n"
    assert read_entries(path) == {("lab", "default"): "MUNGE:abc:", ("lab", "reg"): "MUNGE:def:"}
    assert read_entries(tmp_path / "missing") == {}


def test_client_rejects_bad_gateway_urls_and_reports_unreachable():
    with pytest.raises(GatewayError, match="no imageGateway"):
        GatewayClient([])
    with pytest.raises(GatewayError, match="not an http"):
        GatewayClient(["ftp://x"])
    client = GatewayClient(["http://127.0.0.1:1", "http://127.0.0.1:2"], timeout=2)
    with pytest.raises(GatewayError, match="failed to contact the image gateway"):
        client.request("GET", "/api/queue/lab/", auth=False)


def test_client_import_is_light():
    import subprocess
    import sys
    code = ("import sys; import shifter_imagegw.client.api; "
            "print(sorted(m for m in ('requests', 'pymunge', 'flask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]", out.stderr


def test_munge_payload_parsing():
    from shifter_imagegw.auth import parse_payload
    assert parse_payload(b'{"authorized_locations": {"default": "u:p", "reg": "a:b"}}') == \
        {"default": "u:p", "reg": "a:b"}
    assert parse_payload(b"") == {} and parse_payload(b"not json") == {}
    assert parse_payload(b'{"authorized_locations": "x"}') == {}
    assert parse_payload(b'\xff\xfe') == {}


class CannedClient(GatewayClient):
    """A client whose every request gets one canned answer (no HTTP, no munge)."""

    def __init__(self, status: int, doc) -> None:
        super().__init__(["http://gw.example:7777"])
        self.answer = Answer("http://gw.example:7777", status, doc)

    def _once(self, base, method, path, body, auth) -> Answer:
        return self.answer


CALLS = {
    "lookup": lambda c: c.lookup("lab", "docker", "u:1"),
    "pull": lambda c: c.pull("lab", "docker", "u:1"),
    "images": lambda c: c.images("lab"),
    "expire": lambda c: c.expire("lab", "docker", "u:1"),
    "autoexpire": lambda c: c.autoexpire("lab"),
    "import": lambda c: c.doimport("lab", "custom", "u:1", "/tmp/x.sqsh"),
    "login": lambda c: c.login("lab", "default"),
    "queue": lambda c: c.queue("lab"),
    "metrics": lambda c: c.metrics("lab"),
}


@pytest.mark.parametrize("doc", [None, [], "x", 7, {"list": "abc"}, {"status": "MISSING"}],
                         ids=["empty", "list", "string", "number", "list-abc", "status-missing"])
@pytest.mark.parametrize("call", sorted(set(CALLS) - {"metrics"}))  # metrics: a list
def test_wrong_answer_shape_is_one_line_gateway_error(call, doc):
    with pytest.raises(GatewayError) as err:
        CALLS[call](CannedClient(200, doc))
    message = str(err.value)
    assert message.startswith("http://gw.example:7777: unexpected answer from the image gateway ("), \
        message
    assert "\n" not in message and len(message) < 200, message


@pytest.mark.parametrize("call,doc,detail", [
    ("lookup", {"id": None, "status": "READY"}, '"id": expected a string, got nothing'),
    ("pull", {"status": "EXPIRED"}, '"status": expected a pull status, got "EXPIRED"'),
    ("pull", {"status": "PULLING", "progress": {"bytes_done": "1"}},
     '"progress": expected byte counts, got {"bytes_done": "1"}'),
    ("images", {"list": [{"tag": 5}]}, '"tag": expected a string or a list of strings, got 5'),
    ("expire", {"status": "yes"}, '"status": expected true, false or null, got "yes"'),
    ("login", {"ok": "yes"}, '"ok": expected true or false, got "yes"'),
    ("metrics", {"list": []}, 'metrics: expected a list of JSON objects, got {"list": []})'),
    ("images", {"list": ["x" * 60]}, 'got ["' + "x" * 35 + '...)'),
])
def test_wrong_answer_names_the_field(call, doc, detail):
    with pytest.raises(GatewayError, match=re.escape(detail)):
        CALLS[call](CannedClient(200, doc))


@pytest.mark.parametrize("call,doc,expected", [
    ("lookup", {"id": "abc", "status": "READY", "tag": ["u:1"]}, "abc"),
    ("pull", {"status": "PULLING", "progress": {"bytes_done": 1, "bytes_total": 2}}, "PULLING"),
    ("pull", {"status": "READY"}, "READY"),
    ("images", {"list": [{"tag": "u:1"}, {"tag": ["a", "b"]}]}, 2),
    ("images", {"data": []}, 0),
    ("expire", {"status": None}, None),
    ("autoexpire", {"status": ["id1"]}, ["id1"]),
    ("autoexpire", {"status": False}, False),
    ("login", {"ok": False, "message": "refused"}, False),
    ("metrics", [], []),
])
def test_gateway_answers_of_the_right_shape_pass(call, doc, expected):
    got = CALLS[call](CannedClient(200, doc))
    picks = {"lookup": lambda r: r["id"], "pull": lambda r: r["status"], "images": len,
             "login": lambda r: r["ok"]}
    assert picks.get(call, lambda r: r)(got) == expected


def test_lookup_not_found_needs_the_gateway_error_body():
    assert CannedClient(404, {"status": 404, "error": "image not found: docker:u:1"}).lookup(
        "lab", "docker", "u:1") is None
    with pytest.raises(GatewayError, match="^lookup docker:u:1: Invalid System: 'lab'$"):
        CannedClient(404, {"error": "Invalid System: 'lab'"}).lookup("lab", "docker", "u:1")
    with pytest.raises(GatewayError, match=r"^http://gw.example:7777: unexpected answer from the "
                                           r"image gateway \(lookup docker:u:1: HTTP 404 without"):
        CannedClient(404, None).lookup("lab", "docker", "u:1")


def test_client_statuses_are_the_gateways():
    from shifter_imagegw.openapi import _RECORD
    from shifter_imagegw.store import IN_PROGRESS as GATEWAY_IN_PROGRESS
    assert IN_PROGRESS == GATEWAY_IN_PROGRESS
    assert set(PULL_STATUSES) <= set(_RECORD["properties"]["status"]["enum"])


@pytest.mark.parametrize("argv,problem", [
    (["bogusmode"], "argument mode: invalid choice: 'bogusmode' (choose from "),
    (["--bogus", "images"], "unrecognized arguments: --bogus"),
    (["--format", "xyz", "import", "a", "b"], "argument --format: invalid choice: 'xyz'"),
    ([], "the following arguments are required: mode"),
])
def test_usage_errors_are_one_line_exit_2(argv, problem, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"shifterimg: {problem}") and err.count("\n") == 1, err
    assert err.endswith(" (see shifterimg --help)\n"), err
