"""shifterimg's pure parts: table, status line, id lists, credential file, usage errors."""
import os
import stat
import time

import pytest

from shifter_imagegw.client.api import GatewayClient, GatewayError
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
