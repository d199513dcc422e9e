import pytest

from shifter_slurm.sshd import PORT, SSH_DIR, host_libraries, ssh_config, sshd_config, wrapper

pytestmark = pytest.mark.unit


def test_sshd_admits_only_the_user_by_key():
    conf = sshd_config("alice").splitlines()
    assert f"Port {PORT}" in conf and PORT == 1204
    assert "AllowUsers alice" in conf
    assert "PasswordAuthentication no" in conf
    assert "KbdInteractiveAuthentication no" in conf
    assert "PermitRootLogin no" in conf
    assert f"AuthorizedKeysFile {SSH_DIR}/etc/user_auth_keys" in conf


def test_client_uses_the_submission_key_and_port():
    conf = ssh_config()
    assert f"Port {PORT}" in conf
    assert "IdentityFile ~/.udiRoot/id_rsa.key" in conf


def test_wrapper_runs_through_the_bundled_loader():
    text = wrapper("ld-linux-x86-64.so.2", "ssh", "-F x ")
    assert text.startswith("#!/bin/sh\nexec /opt/udiImage/ssh/lib/ld-linux-x86-64.so.2 --library-path "
                           "/opt/udiImage/ssh/lib /opt/udiImage/ssh/libexec/ssh -F x \"$@\"")


def test_host_libraries_of_sshd_include_libc_and_the_loader():
    loader, libs = host_libraries(["/usr/sbin/sshd"])
    assert loader.endswith("ld-linux-x86-64.so.2")
    assert any(lib.endswith("/libc.so.6") for lib in libs)
