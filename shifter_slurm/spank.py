"""The bridge between the C shim and the Python logic.

``call_hook`` is the one function the plugin's C stubs reach.  ``Spank`` wraps
the handle and the few SPANK calls the logic uses, so the context modules deal
in Python strings and ints, never in cffi objects.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

from shifter_slurm.errors import ShifterSlurmError


@dataclass
class Spank:
    """One SPANK handle plus the cffi ``ffi``/``lib`` of the plugin."""

    ffi: Any
    lib: Any
    sp: Any

    # -- context ----------------------------------------------------------
    def context(self) -> str:
        """``local``, ``allocator``, ``remote``, ``job_script`` or ``slurmd``."""
        ctx = self.lib.spank_context()
        names = {
            self.lib.S_CTX_LOCAL: "local",
            self.lib.S_CTX_ALLOCATOR: "allocator",
            self.lib.S_CTX_REMOTE: "remote",
            self.lib.S_CTX_JOB_SCRIPT: "job_script",
            self.lib.S_CTX_SLURMD: "slurmd",
        }
        return names.get(ctx, "error")

    def option(self, name: str) -> str | None:
        """The value an option callback stored in this process, or None."""
        val = {"image": self.lib.OPT_IMAGE, "volume": self.lib.OPT_VOLUME,
               "module": self.lib.OPT_MODULE, "ccm": self.lib.OPT_CCM}[name]
        ptr = self.lib.shifter_opt(val)
        return None if ptr == self.ffi.NULL else self.ffi.string(ptr).decode()

    # -- items ------------------------------------------------------------
    def _item(self, item: int, ctype: str) -> int:
        out = self.ffi.new(ctype)
        rc = self.lib.spank_get_item(self.sp, self.ffi.cast("spank_item_t", item), out)
        if rc != self.lib.ESPANK_SUCCESS:
            raise ShifterSlurmError(f"spank_get_item({item}) failed with {rc}")
        return int(out[0])

    def job_uid(self) -> int:
        return self._item(self.lib.S_JOB_UID, "uid_t *")

    def job_gid(self) -> int:
        return self._item(self.lib.S_JOB_GID, "gid_t *")

    def job_id(self) -> int:
        return self._item(self.lib.S_JOB_ID, "uint32_t *")

    # -- environment ------------------------------------------------------
    def getenv(self, name: str) -> str | None:
        """A variable of the job's environment (remote context only)."""
        size = 4096
        while size <= 1 << 20:
            buf = self.ffi.new("char[]", size)
            rc = self.lib.spank_getenv(self.sp, name.encode(), buf, size)
            if rc == self.lib.ESPANK_SUCCESS:
                return self.ffi.string(buf).decode()
            if rc != self.lib.ESPANK_NOSPACE:  # else retry with a bigger buffer
                return None
            size *= 4
        return None

    def setenv(self, name: str, value: str) -> None:
        """Set a variable in the job's environment.

        On the submit side the job inherits the client's own environment
        (spank_setenv answers ESPANK_NOT_REMOTE there); in a step it is
        spank_setenv.
        """
        if self.context() in ("local", "allocator"):
            os.environ[name] = value
            return
        rc = self.lib.spank_setenv(self.sp, name.encode(), value.encode(), 1)
        if rc != self.lib.ESPANK_SUCCESS:
            raise ShifterSlurmError(f"cannot set {name} in the job environment (spank error {rc})")

    def job_control_setenv(self, name: str, value: str) -> None:
        """Set a variable the prolog, epilog and job see as (SLURM_)SPANK_<name>."""
        rc = self.lib.spank_job_control_setenv(self.sp, name.encode(), value.encode(), 1)
        if rc != self.lib.ESPANK_SUCCESS:
            raise ShifterSlurmError(f"cannot set {name} in the job control environment (spank error {rc})")

    # -- logging ----------------------------------------------------------
    def _log(self, func: Any, msg: str) -> None:
        func(b"%s", self.ffi.new("char[]", msg.encode(errors="replace")))

    def error(self, msg: str) -> None:
        self._log(self.lib.slurm_error, msg)

    def info(self, msg: str) -> None:
        self._log(self.lib.slurm_info, msg)

    def debug(self, msg: str) -> None:
        self._log(self.lib.slurm_debug, msg)


def call_hook(ffi: Any, lib: Any, hook: Any, sp: Any, ac: int, av: Any) -> int:
    """Run one SPANK hook; every failure is logged as one line and returns -1."""
    spank = Spank(ffi, lib, sp)
    name = ffi.string(hook).decode()
    args = [ffi.string(av[i]).decode() for i in range(ac)]
    try:
        from shifter_slurm import dispatch

        return dispatch.run(name, spank, args)
    except ShifterSlurmError as exc:
        spank.error(f"shifter: {exc}")
    except Exception as exc:  # noqa: BLE001 - a plugin must never raise into Slurm
        for line in traceback.format_exc().splitlines():
            spank.debug(f"shifter: {line}")
        spank.error(f"shifter: internal error in {name}: {exc.__class__.__name__}: {exc}")
    return -1
