"""Local Docker registries (Debian ``docker-registry serve``) on 127.0.0.1.

``open`` listens on :5000 without auth, ``auth`` on :5001 with htpasswd basic
auth (``labuser``/``labpass``).  Each has its own config.yml and storage under
``<run>/registry/<name>``; storage survives restarts so pushes are skipped when
the blobs are already there.
"""
from __future__ import annotations

import base64
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testbed import lease
from testbed.paths import run_dir
from testbed.procs import TestbedError, alive, read_pid, run, spawn, stop_pid, wait_until

USERNAME = "labuser"
PASSWORD = "labpass"


@dataclass(frozen=True)
class Registry:
    """A running registry."""

    name: str
    host: str
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def creds(self) -> str | None:
        """``user:pass`` for skopeo ``--creds``, or None without auth."""
        return f"{self.username}:{self.password}" if self.username else None

    def headers(self) -> dict[str, str]:
        """The Authorization header needed by this registry (may be empty)."""
        if not self.username:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


SPECS = {
    "open": Registry("open", "127.0.0.1:5000"),
    "auth": Registry("auth", "127.0.0.1:5001", USERNAME, PASSWORD),
}

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}
{auth}"""

_AUTH = """\
auth:
  htpasswd:
    realm: shifter-testbed
    path: {htpasswd}
"""


def _dir(name: str) -> Path:
    return run_dir("registry", name)


def _write_config(reg: Registry) -> Path:
    base = _dir(reg.name)
    auth = ""
    if reg.username:
        htpasswd = base / "htpasswd"
        run(["htpasswd", "-Bbc", str(htpasswd), reg.username, reg.password])
        auth = _AUTH.format(htpasswd=htpasswd)
    (base / "data").mkdir(exist_ok=True)
    config = base / "config.yml"
    config.write_text(_CONFIG.format(storage=base / "data", host=reg.host, auth=auth))
    return config


def answers(reg: Registry) -> bool:
    """True if ``/v2/`` answers 200 (or 401 on the auth registry)."""
    try:
        with urllib.request.urlopen(f"{reg.url}/v2/", timeout=2) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as err:
        return err.code == 401 and reg.username is not None
    except OSError:
        return False


def up(name: str, holder: str) -> Registry:
    """Start registry ``name`` ("open" or "auth") unless running; take a lease."""
    reg = SPECS[name]
    pidfile = _dir(name) / "registry.pid"
    with lease.locked(f"registry-{name}"):
        if not alive(read_pid(pidfile)):
            if answers(reg):
                raise TestbedError(f"{reg.host} is taken by a registry the test bed did not start")
            binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
            pid = spawn([binary, "serve", str(_write_config(reg))], _dir(name) / "registry.log", pidfile)
            wait_until(lambda: answers(reg) or not alive(pid), 10, f"registry on {reg.host}")
            if not alive(pid):
                raise TestbedError(f"registry on {reg.host} exited: see {_dir(name) / 'registry.log'}")
        lease.take(f"registry-{name}", holder)
    return reg


def down(name: str, holder: str) -> None:
    """Release the lease; stop the registry when nobody holds it."""
    pidfile = _dir(name) / "registry.pid"
    with lease.locked(f"registry-{name}"):
        if lease.give(f"registry-{name}", holder):
            stop_pid(read_pid(pidfile))
            pidfile.unlink(missing_ok=True)
