"""``shifterimg`` end to end, run by an unprivileged user against a real gateway."""
import json
import os
import pty
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gwtest import PY, SRC_PATH

pytestmark = pytest.mark.integration


@pytest.fixture
def udiroot(gateway):
    return write_udiroot(gateway)


def write_udiroot(gateway):
    """A root-owned udiRoot.conf pointing at the gateway (plus a dead one for failover)."""
    conf = gateway.root / "udiRoot.conf"
    conf.write_text(
        "udiMount=/var/udiMount\nloopMount=/var/loopMount\nimagePath=%s\n"
        "udiRootPath=/opt/shifter/udiRoot\netcPath=/etc/shifter/shifter_etc_files\n"
        "rootfsType=tmpfs\nsystem=lab\ndefaultImageType=docker\ngatewayTimeout=30\n"
        "imageGateway=http://127.0.0.1:1 %s\n" % (gateway.root / "images", gateway.url))
    conf.chmod(0o644)
    return conf


def shifterimg(user, conf, *args, stdin=None, timeout=180):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC_PATH, "HOME": user.home,
           "SHIFTER_CONFIG": str(conf)}
    return subprocess.run([PY, "-m", "shifter_imagegw.client.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, user=user.uid, group=user.gid,
                          extra_groups=list(user.groups), timeout=timeout, cwd="/")


def test_pull_lookup_images_as_user(gateway, udiroot, images, test_users):
    images["busybox"]
    user = test_users[0]
    pull = shifterimg(user, udiroot, "pull", "docker:test/busybox:latest")
    assert pull.returncode == 0, pull.stderr
    lines = pull.stdout.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d Pulling Image: docker:test/busybox:latest, "
                    r"status: READY", lines[-1]), pull.stdout
    assert "\r" not in pull.stdout, "plain lines when not on a terminal"

    look = shifterimg(user, udiroot, "lookup", "test/busybox")
    assert look.returncode == 0, look.stderr
    image_id = look.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", image_id)
    assert (gateway.root / "images" / f"{image_id}.squashfs").exists()

    table = shifterimg(user, udiroot, "images")
    assert table.returncode == 0
    row = table.stdout.splitlines()[0]
    assert re.match(r"^lab\s+docker\s+READY\s+%s\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d "
                    r"test/busybox:latest$" % image_id[:10], row), row
    as_json = json.loads(shifterimg(user, udiroot, "--json", "lookup", "test/busybox").stdout)
    assert as_json["id"] == image_id and as_json["tag"] == ["test/busybox:latest"]

    missing = shifterimg(user, udiroot, "lookup", "test/nothing:here")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "image not found: docker:test/nothing:here" in missing.stderr

    not_admin = shifterimg(user, udiroot, "expire", "test/busybox")
    assert not_admin.returncode == 1 and not_admin.stdout.strip() == "false"
    not_admin = shifterimg(user, udiroot, "autoexpire")
    assert not_admin.returncode == 1 and not_admin.stdout.strip() == "false"
    squash = str(gateway.root / "images" / f"{image_id}.squashfs")
    no_import = shifterimg(user, udiroot, "import", "custom:mine", squash)
    assert no_import.returncode == 1 and "may not import images (ImportUsers)" in no_import.stderr


def test_pull_failure_exits_non_zero(gateway, udiroot, registry, test_users):
    res = shifterimg(test_users[0], udiroot, "pull", "test/does-not-exist:1")
    assert res.returncode == 1
    assert "status: FAILURE" in res.stdout
    assert "pull of docker:test/does-not-exist:1 failed:" in res.stderr


def test_private_pull_with_user_list(gateway, udiroot, images, test_users):
    images["busybox-oci"]
    owner, other = test_users
    res = shifterimg(owner, udiroot, "-u", other.name, "pull", "test/busybox:oci")
    assert res.returncode == 0, res.stderr
    rec = json.loads(shifterimg(owner, udiroot, "--json", "lookup", "test/busybox:oci").stdout)
    assert sorted(rec["userACL"]) == sorted([owner.uid, other.uid])
    assert shifterimg(other, udiroot, "lookup", "test/busybox:oci").returncode == 0
    bad = shifterimg(owner, udiroot, "-u", "no-such-user-xyz", "pull", "test/busybox:oci")
    assert bad.returncode == 1 and "--user: unknown name 'no-such-user-xyz'" in bad.stderr


def test_bad_usage_and_config_errors(gateway, udiroot, test_users):
    user = test_users[0]
    res = shifterimg(user, udiroot, "lookup")
    assert res.returncode == 1 and "lookup: expected 1 argument" in res.stderr
    res = shifterimg(user, udiroot, "bogusmode")
    assert res.returncode == 2 and res.stderr.startswith(
        "shifterimg: argument mode: invalid choice: 'bogusmode'") and \
        res.stderr.endswith(" (see shifterimg --help)\n") and res.stderr.count("\n") == 1
    res = shifterimg(user, udiroot, "lookup", "docker:bad tag")
    assert res.returncode == 1 and "invalid character" in res.stderr
    writable = gateway.root / "udiRoot.bad"
    writable.write_text(udiroot.read_text())
    writable.chmod(0o666)
    res = shifterimg(user, writable, "images")
    assert res.returncode == 1 and "udiRoot.bad" in res.stderr and "writable" in res.stderr


def test_login_checks_registry_and_stores_munged_creds(gateway_factory, registry_auth, images_auth,
                                                      test_users):
    ref = images_auth["busybox"]
    gw = gateway_factory(extra={"Locations": {"authreg": {"url": registry_auth.url,
                                                          "authMethod": "basic"}}})
    conf = gw.root / "udiRoot.conf"
    conf.write_text("udiMount=/var/udiMount\nloopMount=/var/loopMount\nimagePath=/images\n"
                    "udiRootPath=/opt/u\netcPath=/etc/shifter\nrootfsType=tmpfs\nsystem=lab\n"
                    f"imageGateway={gw.url}\n")
    conf.chmod(0o644)
    user = test_users[1]
    cred = Path(user.home) / ".udiRoot" / ".cred"
    if cred.exists():
        cred.unlink()
    bad = shifterimg(user, conf, "login", "authreg", stdin="labuser\nwrong\n")
    assert bad.returncode == 1 and "credentials refused" in bad.stderr, bad.stderr
    assert not cred.exists()
    good = shifterimg(user, conf, "login", "authreg", stdin="labuser\nlabpass\n")
    assert good.returncode == 0, good.stderr
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600 and cred.stat().st_uid == user.uid
    assert stat.S_IMODE(cred.parent.stat().st_mode) == 0o700
    line = cred.read_text().strip()
    assert line.startswith("lab:authreg=MUNGE:") and "labpass" not in line
    # the stored credentials are sent with later requests: a private-registry pull works
    tag = "docker:authreg/" + ref.split("/", 1)[1]
    pull = shifterimg(user, conf, "pull", tag)
    assert pull.returncode == 0 and "status: READY" in pull.stdout, pull.stdout + pull.stderr
    cred.unlink()
    os.rmdir(cred.parent)


def test_pull_on_a_terminal_draws_a_progress_bar(gateway_factory, registry_proxy, images,
                                                 test_users):
    images["debian"]  # ~100 MB of layers, throttled so the download takes a few seconds
    registry_proxy.delay_per_chunk = 0.003
    gw = gateway_factory(registry_url=registry_proxy.url)
    conf = write_udiroot(gw)
    user = test_users[0]
    master, slave = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC_PATH, "HOME": user.home,
           "SHIFTER_CONFIG": str(conf)}
    proc = subprocess.Popen([PY, "-m", "shifter_imagegw.client.cli", "pull",
                             "test/debian:bookworm"],
                            env=env, stdout=slave, stderr=slave, user=user.uid, group=user.gid,
                            extra_groups=[], cwd="/")
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(120) == 0
    out = b"".join(chunks).decode()
    assert "\r\x1b[2K" in out and out.rstrip().endswith("status: READY")
    assert re.search(r"status: PULLING \[#+\.*\] [1-9][\d.]*/\d+\.\d MB", out), out


class WrongService:
    """A real HTTP server on 127.0.0.1 (ephemeral port) answering every request 200 with
    ``body``, and a root-owned udiRoot.conf whose imageGateway points at it."""

    def __init__(self) -> None:
        service = self
        self.body = b""

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(service.body)))
                self.end_headers()
                self.wfile.write(service.body)

            do_GET = do_POST = answer

            def log_message(self, *args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.dir = Path(tempfile.mkdtemp(prefix="shifter-wrongsvc-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.conf = self.dir / "udiRoot.conf"
        self.conf.write_text("udiMount=/var/udiMount\nloopMount=/var/loopMount\n"
                             "imagePath=/images\nudiRootPath=/opt/u\netcPath=/etc/shifter\n"
                             f"rootfsType=tmpfs\nsystem=lab\nimageGateway={self.url}\n")
        self.conf.chmod(0o644)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir)


@pytest.fixture
def wrong_service(munge):
    service = WrongService()
    yield service
    service.close()


@pytest.mark.parametrize("body", ["", "[]", '"x"', '{"list":"abc"}', '{"status":"MISSING"}'])
@pytest.mark.parametrize("mode", [["images"], ["lookup", "docker:u"], ["pull", "docker:u"],
                                  ["expire", "docker:u"], ["autoexpire"]], ids=" ".join)
def test_wrong_service_answer_is_one_line_error(wrong_service, test_users, mode, body):
    """imageGateway pointing at another HTTP service: no traceback, no None, no endless pull."""
    wrong_service.body = body.encode()
    res = shifterimg(test_users[0], wrong_service.conf, *mode, timeout=30)
    assert res.returncode == 1 and res.stdout == "", res.stdout + res.stderr
    assert res.stderr.startswith(
        f"shifterimg: {wrong_service.url}: unexpected answer from the image gateway ({mode[0]}"), \
        res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
