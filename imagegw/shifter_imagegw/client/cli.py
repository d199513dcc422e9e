"""``shifterimg``: talk to the image gateway (inventory §2).

Modes: ``images``, ``lookup <image>``, ``pull <image>``, ``login [location]``,
``expire <image>``, ``autoexpire``, ``import <image> <file>`` (a squashfs, a ``docker save``
tar or an OCI layout directory or tar; ``--format`` or sniffed from the file).
``imageGateway``, ``gatewayTimeout``, ``system`` and ``defaultImageType`` come
from udiRoot.conf (``$SHIFTER_CONFIG`` or /etc/shifter/udiRoot.conf).
"""
from __future__ import annotations

import argparse
import getpass
import grp
import json
import os
import pwd
import sys
import tarfile
import time
from typing import Any, NoReturn, TextIO

from ..importformats import IMPORT_FORMATS, SQUASHFS_MAGIC
from .api import IN_PROGRESS, GatewayClient, GatewayError

MODES = ("images", "lookup", "pull", "pullnb", "login", "expire", "autoexpire", "import")
POLL_S = 0.5


class UsageError(Exception):
    """Bad command line; the message names the option."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2); ``--help`` is unchanged."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="shifterimg", usage="shifterimg [options] <mode> [<type:tag>]",
        description="Query and pull images through the Shifter image gateway. Modes: "
                    "images, lookup, pull, login [location], expire, autoexpire, "
                    "import <type:tag> <file> (squashfs, docker save tar or OCI layout).")
    p.add_argument("-v", "--verbose", action="store_true", help="print raw gateway answers")
    p.add_argument("-u", "--user", default=None, help="comma list of users/uids for a private image")
    p.add_argument("-g", "--group", default=None, help="comma list of groups/gids for a private image")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("-c", "--config", default=None, help="udiRoot.conf to read")
    p.add_argument("--format", choices=IMPORT_FORMATS, default=None,
                   help="import: what the file is (default: sniffed from the file)")
    p.add_argument("mode", choices=MODES, metavar="mode")
    p.add_argument("args", nargs="*", default=[], metavar="arg")
    return p


def resolve_ids(text: str | None, option: str, by_name, attr: str) -> list[int]:
    """``alice,1001`` -> [uid(alice), 1001]; UsageError naming the option."""
    ids: list[int] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        if item.isdigit():
            value = int(item)
        else:
            try:
                value = getattr(by_name(item), attr)
            except KeyError:
                raise UsageError(f"{option}: unknown name {item!r}") from None
        if value <= 0:
            raise UsageError(f"{option}: {item!r} must not be root (id 0)")
        ids.append(value)
    return ids


def sniff_format(path: str) -> str:
    """The import format of ``path``: squashfs magic, a directory with ``oci-layout``, a tar
    with ``manifest.json`` (docker save, even if also an OCI layout) or ``oci-layout``."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "oci-layout")):
            return "oci"
        raise UsageError(f"{path}: a directory without oci-layout is not an OCI image layout")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == SQUASHFS_MAGIC:
                return "squashfs"
        names = _tar_names(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tarfile.TarError, EOFError):
        names = set()
    for name, fmt in (("manifest.json", "docker-archive"), ("oci-layout", "oci")):
        if name in names:
            return fmt
    raise UsageError(f"{path}: not a squashfs, a docker save archive or an OCI layout; "
                     "use --format to say what it is")


def _tar_names(path: str) -> set[str]:
    """Top-level member names of a tar (headers only: the data is skipped)."""
    with tarfile.open(path, "r:*") as tar:
        return {name for name in (m.name.removeprefix("./") for m in tar) if "/" not in name}


def _site(config_path: str | None) -> Any:
    from shifter_runtime.config import config_path as pick, load_config
    return load_config(pick(for_root=False, cli_path=config_path))


def _spec(text: str, default_type: str | None) -> tuple[str, str]:
    from shifter_runtime.imagespec import parse_descriptor
    spec = parse_descriptor(text, default_type)
    if spec.itype not in ("docker", "custom"):
        raise UsageError(f"image {text!r}: the gateway only knows docker and custom images")
    return spec.itype, spec.tag


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "MISSING".ljust(19)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def format_images(records: list[dict]) -> list[str]:
    """Upstream's table: one row per tag, sorted by tag."""
    rows = []
    for rec in records:
        tags = rec.get("tag") or []
        for tag in [tags] if isinstance(tags, str) else tags:
            rows.append((tag, "%-10s %-10s %-8s %-.10s   %s %-30s" % (
                rec.get("system", ""), rec.get("itype", ""), rec.get("status", ""),
                str(rec.get("id", "")), _when(rec.get("last_pull")), tag)))
    return [line.rstrip() for _, line in sorted(rows)]


def progress_line(itype: str, tag: str, rec: dict, width: int = 30) -> str:
    status = rec["status"]
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} Pulling Image: {itype}:{tag}, status: {status}"
    prog = rec.get("progress") or {}
    done, total = int(prog.get("bytes_done") or 0), int(prog.get("bytes_total") or 0)
    if total > 0 and status in IN_PROGRESS:
        filled = min(width, width * done // total)
        line += f" [{'#' * filled}{'.' * (width - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
    return line


def _pull(client: GatewayClient, system: str, itype: str, tag: str, uids: list[int],
          gids: list[int], out: TextIO, once: bool, as_json: bool) -> int:
    tty = out.isatty() and not as_json
    last = None
    while True:
        rec = client.pull(system, itype, tag, uids, gids)
        status = rec["status"]
        if not as_json:
            line = progress_line(itype, tag, rec)
            if tty:
                out.write("\r\x1b[2K" + line)
            elif status != last:
                out.write(line + "\n")
            out.flush()
        last = status
        if once or status not in IN_PROGRESS:
            break
        time.sleep(POLL_S)
    if tty:
        out.write("\n")
    if as_json:
        out.write(json.dumps(rec) + "\n")
    if status == "FAILURE":
        print(f"shifterimg: pull of {itype}:{tag} failed: {rec.get('status_message') or 'unknown'}",
              file=sys.stderr)
        return 1
    return 0


def _login(client: GatewayClient, system: str, location: str, socket_path: str | None) -> int:
    from .api import munge_credential
    from .creds import cred_file, read_entries, write_entries
    try:
        tty = open("/dev/tty", "r+")
    except OSError:
        tty = None
    try:
        if tty is not None:
            tty.write(f"{location} username: ")
            tty.flush()
            user = tty.readline().strip()
            password = getpass.getpass(f"{location} password: ", stream=tty)
        else:
            user = sys.stdin.readline().strip()
            password = sys.stdin.readline().rstrip("\n")
    finally:
        if tty is not None:
            tty.close()
    if not user:
        raise UsageError("login: empty username")
    secret = f"{user}:{password}"
    client.credentials = {location: secret}
    result = client.login(system, location)
    if not result.get("ok"):
        print(f"shifterimg: login to {location} failed: {result.get('message', 'refused')}",
              file=sys.stderr)
        return 1
    path = cred_file()
    entries = read_entries(path)
    entries[(system, location)] = munge_credential(secret.encode(), socket_path)
    write_entries(path, entries)
    print(f"Login to {location} succeeded: {result.get('message', '')}".rstrip(": "))
    return 0


def run(argv: list[str] | None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    site = _site(args.config)
    if not site.image_gateway:
        raise UsageError(f"no imageGateway configured in {site.path}")
    if not site.system:
        raise UsageError(f"no 'system' configured in {site.path}")
    system = site.system
    socket_path = os.environ.get("SHIFTER_MUNGE_SOCKET") or None
    client = GatewayClient(site.image_gateway, site.gateway_timeout, munge_socket=socket_path)
    if args.mode != "login":
        from .creds import credentials_for
        client.credentials = credentials_for(system, socket_path=socket_path)
    need = {"lookup": 1, "pull": 1, "pullnb": 1, "expire": 1, "import": 2, "images": 0,
            "autoexpire": 0}
    if args.mode == "login":
        if len(args.args) > 1:
            raise UsageError("login: expected at most one location")
        return _login(client, system, args.args[0] if args.args else "default", socket_path)
    if len(args.args) != need[args.mode]:
        raise UsageError(f"{args.mode}: expected {need[args.mode]} argument(s)")
    if args.format and args.mode != "import":
        raise UsageError("--format: only for import")
    uids = resolve_ids(args.user, "--user", pwd.getpwnam, "pw_uid")
    gids = resolve_ids(args.group, "--group", grp.getgrnam, "gr_gid")

    def show(doc: Any) -> None:
        if args.json or args.verbose:
            out.write(json.dumps(doc) + "\n")

    if args.mode == "images":
        records = client.images(system)
        if args.json:
            show(records)
        else:
            out.write("".join(line + "\n" for line in format_images(records)))
        return 0
    if args.mode == "autoexpire":
        status = client.autoexpire(system)
        show({"status": status}) if args.json else out.write(f"{json.dumps(status)}\n")
        return 0 if status is not False else 1
    itype, tag = _spec(args.args[0], site.default_image_type)
    if args.mode == "lookup":
        rec = client.lookup(system, itype, tag)
        if rec is None:
            print(f"shifterimg: image not found: {itype}:{tag}", file=sys.stderr)
            return 1
        show(rec) if args.json else out.write(f"{rec['id']}\n")
        return 0
    if args.mode in ("pull", "pullnb"):
        return _pull(client, system, itype, tag, uids, gids, out, args.mode == "pullnb",
                     args.json)
    if args.mode == "expire":
        status = client.expire(system, itype, tag)
        show({"status": status}) if args.json else out.write(f"{json.dumps(status)}\n")
        return 0 if status else 1
    path = os.path.abspath(args.args[1])
    rec = client.doimport(system, itype, tag, path, args.format or sniff_format(path), uids, gids)
    show(rec) if args.json else out.write(f"{rec['status']}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except (UsageError, GatewayError) as exc:
        print(f"shifterimg: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # ConfigError / ImageError from the runtime's parsers
        if type(exc).__module__.startswith("shifter_runtime"):
            print(f"shifterimg: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
