"""Who the caller is: libc, or ``<etcPath>/passwd`` when libc calls are not allowed."""
from __future__ import annotations

import os
import pwd

import pytest

from shifter_runtime.config import parse_config
from shifter_runtime.errors import ShifterError
from shifter_runtime.launch.flow import _lookup_user

pytestmark = pytest.mark.unit


def _config(etc: str, libc: bool):
    return parse_config(f"udiMount=/u\nloopMount=/l\nimagePath=/i\nudiRootPath=/r\n"
                        f"etcPath={etc}\nrootfsType=tmpfs\nallowLibcPwdCalls={int(libc)}\n")


def test_libc_lookup():
    me = pwd.getpwuid(os.getuid())
    assert _lookup_user(_config("/nonexistent", True), os.getuid()).pw_name == me.pw_name


def test_site_passwd_lookup(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                     "alice:x:4242:77:Alice:/home/alice:/bin/bash\n")
    user = _lookup_user(_config(str(tmp_path), False), 4242)
    assert (user.pw_name, user.pw_uid, user.pw_gid, user.pw_dir, user.pw_shell) == \
        ("alice", 4242, 77, "/home/alice", "/bin/bash")


def test_unknown_user_is_an_error(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    with pytest.raises(ShifterError, match="Failed to lookup username for uid 4242"):
        _lookup_user(_config(str(tmp_path), False), 4242)
