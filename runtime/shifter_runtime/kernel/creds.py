"""Acting on files as a user while root (euid/egid/groups), restored afterwards."""
from __future__ import annotations

import os
from typing import Sequence


class fs_identity:  # noqa: N801 - used like a function: ``with fs_identity(...):``
    """Act on files as the user (euid/egid/groups), restoring root afterwards.

    Only for single-threaded processes: Python's ``seteuid`` changes this thread only.
    """

    def __init__(self, uid: int, gid: int, groups: Sequence[int]) -> None:
        self.uid, self.gid, self.groups = uid, gid, list(groups) or [gid]
        self.saved_groups: list[int] = []

    def __enter__(self) -> None:
        self.saved_groups = os.getgroups()
        os.setegid(self.gid)
        os.setgroups(self.groups)
        os.seteuid(self.uid)

    def __exit__(self, *exc: object) -> None:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(self.saved_groups)
