"""The ``examiner`` key on a real gateway: the script runs as the service user on every new image."""
import os

import pytest

from testbed.images import build

pytestmark = pytest.mark.integration

# Accepts only images with /uni (test/tricky), after making the tree read-only as a scanner
# might; rejects the others, naming the user it runs as.
EXAMINER = """#!/bin/sh
if [ -d "$1/uni" ]; then chmod -R a-w "$1"; exit 0; fi
echo "scanning $2" >&2
echo "policy: no /uni in $2 (checked by $(id -un))" >&2
exit 1
"""


def test_examiner_gates_publication(gateway_factory, gw_root, gw_user, images):
    exam = gw_root / "examiner.sh"
    exam.write_text(EXAMINER)
    exam.chmod(0o755)
    gw = gateway_factory(extra={"examiner": str(exam)})
    images["busybox"], images["tricky"]
    rec = gw.wait_status("docker", "test%2Fbusybox%3Alatest")
    assert rec["status"] == "FAILURE", rec
    busybox = build("busybox").image_id
    assert rec["status_message"] == (f"examiner {exam} rejected localreg/test/busybox:latest: policy: no /uni "
                                     f"in {busybox} (checked by {gw_user.pw_name})")
    rec = gw.wait_status("docker", "test%2Ftricky%3Alatest")
    assert rec["status"] == "READY", rec
    assert sorted(os.listdir(gw_root / "images")) == [f"{rec['id']}.meta", f"{rec['id']}.squashfs"]
    assert os.listdir(gw_root / "state" / "expand") == [], "the read-only rootfs is removed too"
