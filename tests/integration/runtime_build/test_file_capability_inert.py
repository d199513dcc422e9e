"""A file capability in the image must be inert in a setupRoot container (audit gap 3).

``--ccm`` tasks and sshd sessions enter the container by chroot without a user
namespace, so the mount's nosuid is the only thing between an image binary carrying
``cap_dac_read_search+ep`` and every file on the node.  ``site.in_container`` runs like
that (chroot --userspec, no no_new_privs, root's full bounding set).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import extra_image

pytestmark = pytest.mark.integration

IMAGE_ID = "capread0001"
CAP = "cap_dac_read_search+ep"

CAPREAD_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* Print this process's capability sets, then the file argv[1] or why it cannot be read. */
int main(int argc, char **argv) {
    char buf[4096];
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(buf, sizeof buf, st))
        if (!strncmp(buf, "Cap", 3)) fputs(buf, stdout);
    if (st) fclose(st);
    if (argc < 2) return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { printf("open: %s\n", strerror(errno)); return 1; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("read: %s", buf);
    return 0;
}
"""


@pytest.fixture(scope="module")
def cap_image(rt_images):
    """Busybox image with ``/bin/capread`` (static) carrying ``cap_dac_read_search+ep``."""
    def build(root: Path) -> None:
        source, binary = root.parent / "capread.c", root / "bin/capread"
        source.write_text(CAPREAD_C)
        subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
        subprocess.run(["setcap", CAP, str(binary)], check=True)
    with extra_image(rt_images.path, IMAGE_ID, build) as ident:
        yield ident


def caps(stdout: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in stdout.splitlines()
            if line.startswith("Cap")}


def test_file_capability_binary_cannot_read_root_only_file(site, user, cap_image):
    secret = site.tmp / "root-secret"
    secret.write_text("root secret\n")
    secret.chmod(0o600)
    site.setup("-u", user.name, "id", cap_image)
    binary = site.udi / "bin/capread"
    # Precondition: the capability survived mksquashfs and the loop mount (else vacuous).
    assert os.getxattr(binary, "security.capability"), "no security.capability xattr"
    got = subprocess.run(["getcap", str(binary)], capture_output=True, text=True).stdout
    assert "cap_dac_read_search" in got, got
    ran = site.in_container(user, f"/bin/capread {secret}")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "open: Permission denied" in ran.stdout and "root secret" not in ran.stdout
    sets = caps(ran.stdout)
    assert sets["CapEff"] == 0 and sets["CapPrm"] == 0, ran.stdout
    assert sets["CapBnd"] != 0, "no bounding-set drop here: only nosuid stops the cap"


def test_control_the_same_binary_reads_it_where_the_mount_allows_suid(site, user, cap_image):
    """Control: remount the container's /bin without nosuid and the same run reads the
    secret, so the test above fails if nosuid goes missing."""
    secret = site.tmp / "root-secret"
    secret.write_text("root secret\n")
    secret.chmod(0o600)
    site.setup("-u", user.name, "id", cap_image)
    subprocess.run(["mount", "-o", "remount,bind,suid", str(site.udi / "bin")], check=True)
    ran = site.in_container(user, f"/bin/capread {secret}")
    assert "read: root secret" in ran.stdout, ran.stdout + ran.stderr
    assert caps(ran.stdout)["CapEff"] != 0
