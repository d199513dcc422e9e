"""The ``examiner`` hook: a real script run on the unpacked image before it is published."""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from shifter_imagegw.pipeline import Examiner, PullError
from test_gw_pull import assert_clean, pull

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path):
    return SimpleNamespace(cache=tmp_path / "cache", expand=tmp_path / "expand", images=tmp_path / "images",
                           tmp=tmp_path)


def script(path: Path, body: str) -> Examiner:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return Examiner(str(path))


def test_accepting_examiner_sees_the_unpacked_image(images, dirs):
    log = dirs.tmp / "exam.log"
    exam = script(dirs.tmp / "exam.sh", f"""
test -x "$1/bin/busybox" -a -f "$1/etc/os-release" || {{ echo "no busybox in $1" >&2; exit 3; }}
echo "$1 $2 $PWD $(readlink /proc/$$/fd/0)" > {log}
""")
    statuses = []
    image = pull(images["busybox"], dirs, examiner=exam, progress=lambda s, d, t: statuses.append(s))
    root, image_id, cwd, stdin = log.read_text().split()
    assert image_id == image.id and stdin == "/dev/null"
    assert re.fullmatch(re.escape(str(dirs.expand)) + r"/\w+\.\w+\.convert", cwd) and root == f"{cwd}/rootfs"
    assert image.squashfs.is_file() and image.meta_path.is_file()
    order = [s for i, s in enumerate(statuses) if s not in statuses[:i]]
    assert order == ["PULLING", "EXAMINATION", "CONVERSION", "TRANSFER"]
    assert statuses == sorted(statuses, key=order.index), "statuses never go back"
    assert_clean(dirs)


def test_rejecting_examiner_fails_the_pull_and_publishes_nothing(images, dirs):
    exam = script(dirs.tmp / "exam.sh", 'echo "scanning $2" >&2\necho "CVE-2099-0001: bad busybox" >&2\nexit 1\n')
    with pytest.raises(PullError) as err:
        pull(images["busybox"], dirs, examiner=exam)
    assert re.fullmatch(rf"examiner {re.escape(exam.path)} rejected \S+/test/busybox:latest: "
                        r"CVE-2099-0001: bad busybox", str(err.value)), str(err.value)
    assert not dirs.images.exists() or list(dirs.images.iterdir()) == []
    assert_clean(dirs)


def test_silent_and_hanging_examiners(images, dirs):
    with pytest.raises(PullError, match=r"rejected \S+: exit 7$"):
        pull(images["busybox"], dirs, examiner=script(dirs.tmp / "seven.sh", "exit 7\n"))
    slow = Examiner(script(dirs.tmp / "slow.sh", "sleep 60 &\nsleep 60\n").path, timeout=1)
    start = time.monotonic()
    with pytest.raises(PullError, match=r"examiner \S+/slow.sh timed out on \S+ after 1 s$"):
        pull(images["busybox"], dirs, examiner=slow)
    assert time.monotonic() - start < 30, "the examiner and its child were killed"
    with pytest.raises(PullError, match=r"examiner /nonexistent/scan cannot run on \S+: No such file"):
        pull(images["busybox"], dirs, examiner=Examiner("/nonexistent/scan"))
    assert not dirs.images.exists() or list(dirs.images.iterdir()) == []
    assert_clean(dirs)
