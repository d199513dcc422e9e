"""The per-container sshd (``enable_sshd=1``): port 1204, only the job's user, only their key.

Upstream ships a static OpenSSH in /opt/udiImage.  Here the host's Debian
OpenSSH is bundled instead: ``sshd``, ``ssh``, every library ``ldd`` lists and
the dynamic loader are copied to ``/opt/udiImage/ssh`` in the container, and
run through that loader with ``--library-path``, so they work whatever libc
the image has (or none, like busybox).  Per container: fresh host keys, an
``sshd_config`` allowing only the job's user with key authentication, the
user's public key (made at submission, ``~/.udiRoot/id_rsa.key``) as the only
authorized key, and an ``ssh`` wrapper with a client config (port 1204, the
same key) so ``ssh <node>`` from inside the container lands in the other
node's container.  sshd runs chrooted in the container as the user, with all
five capability sets empty (bounding and ambient too) and no_new_privs, in the
job's shifter cgroup (killed by the epilog).
"""
from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass

from shifter_runtime.build.rootfs import write_new
from shifter_slurm.errors import ShifterSlurmError

PORT = 1204
SSH_DIR = "/opt/udiImage/ssh"
PID_FILE = f"{SSH_DIR}/run/sshd.pid"
BINARIES = {"sshd": "/usr/sbin/sshd", "ssh": "/usr/bin/ssh"}


@dataclass(frozen=True)
class Account:
    """Who the sshd runs as and admits."""

    name: str
    uid: int
    gid: int
    gids: tuple[int, ...]


def sshd_config(user: str) -> str:
    """The container sshd's configuration (pure)."""
    return "\n".join([
        f"Port {PORT}",
        f"HostKey {SSH_DIR}/etc/ssh_host_ed25519_key",
        f"AuthorizedKeysFile {SSH_DIR}/etc/user_auth_keys",
        f"PidFile {PID_FILE}",
        f"AllowUsers {user}",
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "UsePAM no",
        "X11Forwarding no",
        "UseDNS no",
        "PermitUserEnvironment no",
        "AcceptEnv SLURM_* SHIFTER_*",
        "",
    ])


def ssh_config() -> str:
    """The client configuration of the ``ssh`` wrapper (pure)."""
    return "\n".join([
        "Host *",
        f"    Port {PORT}",
        "    IdentityFile ~/.udiRoot/id_rsa.key",
        "    IdentitiesOnly yes",
        "    StrictHostKeyChecking no",
        "    UserKnownHostsFile /dev/null",
        "    LogLevel ERROR",
        "",
    ])


def wrapper(loader: str, program: str, extra: str = "") -> str:
    """A /bin/sh launcher running a bundled program through the bundled loader (pure)."""
    return (f'#!/bin/sh\nexec {SSH_DIR}/lib/{loader} --library-path {SSH_DIR}/lib '
            f'{SSH_DIR}/libexec/{program} {extra}"$@"\n')


def host_libraries(binaries: list[str]) -> tuple[str, list[str]]:
    """(dynamic loader, shared libraries) the binaries need, from ``ldd``."""
    loader, libs = "", set()
    for binary in binaries:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            words = line.split()
            if "=>" in words and len(words) > words.index("=>") + 1 and words[words.index("=>") + 1].startswith("/"):
                libs.add(words[words.index("=>") + 1])
            elif words and words[0].startswith("/"):
                loader = words[0]
    if not loader:
        raise ShifterSlurmError(f"no dynamic loader found for {', '.join(binaries)}")
    return loader, sorted(libs)


class _Tree:
    """Create files below one directory fd, never following symlinks."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def mkdir(self, name: str, mode: int = 0o755) -> "_Tree":
        os.mkdir(name, mode, dir_fd=self.fd)
        return _Tree(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.fd))

    def write(self, name: str, data: bytes, mode: int, owner: tuple[int, int] = (0, 0)) -> None:
        write_new(self.fd, name, data, mode, owner)


def _open_dir(path: str, parent: int | None = None) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)


def install(udi_mount: str, account: Account, pubkey: str) -> str:
    """Write the bundle, keys and configurations into the container; return the loader's name."""
    root = _open_dir(udi_mount)
    try:
        opt = _open_dir("opt", root)
        try:
            udi_image = _open_dir("udiImage", opt)
        finally:
            os.close(opt)
        try:
            base = _Tree(udi_image).mkdir("ssh")
        finally:
            os.close(udi_image)
    except OSError as exc:
        hint = " (symlinks are not followed)" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else ""
        raise ShifterSlurmError(f"cannot create {udi_mount}{SSH_DIR}: {exc.filename}: {exc.strerror}{hint}") from None
    finally:
        os.close(root)
    loader, libs = host_libraries(list(BINARIES.values()))
    lib, libexec, etc, bindir = base.mkdir("lib"), base.mkdir("libexec"), base.mkdir("etc"), base.mkdir("bin")
    run = base.mkdir("run")
    os.fchown(run.fd, account.uid, account.gid)
    for path in [loader, *libs]:
        with open(path, "rb") as src:
            lib.write(os.path.basename(path), src.read(), 0o755)
    for name, path in BINARIES.items():
        with open(path, "rb") as src:
            libexec.write(name, src.read(), 0o755)
    loader_name = os.path.basename(loader)
    bindir.write("ssh", wrapper(loader_name, "ssh", f"-F {SSH_DIR}/etc/ssh_config ").encode(), 0o755)
    with tempfile.TemporaryDirectory(prefix="shifter-sshd-") as tmp:
        key = os.path.join(tmp, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shifter-host", "-f", key],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True)
        with open(key, "rb") as priv, open(key + ".pub", "rb") as pub:
            etc.write("ssh_host_ed25519_key", priv.read(), 0o600, (account.uid, account.gid))
            etc.write("ssh_host_ed25519_key.pub", pub.read(), 0o644)
    etc.write("sshd_config", sshd_config(account.name).encode(), 0o444)
    etc.write("ssh_config", ssh_config().encode(), 0o444)
    etc.write("user_auth_keys", (pubkey.strip() + "\n").encode(), 0o444)
    for tree in (lib, libexec, etc, bindir, run, base):
        os.close(tree.fd)
    return loader_name


def start(udi_mount: str, account: Account, loader: str) -> None:
    """Start the sshd chrooted in the container as the user; it daemonizes."""
    from shifter_runtime.launch import enter as privs

    highest_cap = privs.last_cap()

    def enter() -> None:
        os.chroot(udi_mount)
        os.chdir("/")
        os.setgroups(list(account.gids))
        os.setresgid(account.gid, account.gid, account.gid)
        privs.drop_bounding_and_ambient(highest_cap)
        os.setresuid(account.uid, account.uid, account.uid)
        privs.clear_capabilities()

    argv = [f"{SSH_DIR}/lib/{loader}", "--library-path", f"{SSH_DIR}/lib", f"{SSH_DIR}/libexec/sshd",
            "-r", "-f", f"{SSH_DIR}/etc/sshd_config"]
    proc = subprocess.run(argv, preexec_fn=enter, env={"PATH": "/usr/bin:/bin"}, cwd="/",
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ShifterSlurmError(f"container sshd did not start: {reason}")
    wait_listening(PORT)


def read_pid(udi_mount: str) -> int | None:
    """The number in the container sshd's pid file, or None.

    The file's directory belongs to the user, so the number may name any
    process: callers must check it.  No component of the path may be a symlink.
    """
    from shifter_runtime.kernel.paths import RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, openat2

    try:
        root = _open_dir(udi_mount)
        try:
            fd = openat2(root, PID_FILE.lstrip("/"), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
        finally:
            os.close(root)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as pidfile:
        text = pidfile.read(32) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    words = text.split()
    return int(words[0]) if words and words[0].isdigit() else None


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """sshd daemonizes before it listens: wait until the port accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ShifterSlurmError(f"container sshd is not listening on port {port}: {exc}") from None
            time.sleep(0.02)

