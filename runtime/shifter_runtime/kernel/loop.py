"""Loop devices through /dev/loop-control and LOOP_CONFIGURE (autoclear, so none leak)."""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from dataclasses import dataclass

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4


class _LoopInfo64(ctypes.Structure):
    _fields_ = [("lo_device", ctypes.c_uint64), ("lo_inode", ctypes.c_uint64),
                ("lo_rdevice", ctypes.c_uint64), ("lo_offset", ctypes.c_uint64),
                ("lo_sizelimit", ctypes.c_uint64), ("lo_number", ctypes.c_uint32),
                ("lo_encrypt_type", ctypes.c_uint32), ("lo_encrypt_key_size", ctypes.c_uint32),
                ("lo_flags", ctypes.c_uint32), ("lo_file_name", ctypes.c_char * 64),
                ("lo_crypt_name", ctypes.c_char * 64), ("lo_encrypt_key", ctypes.c_char * 32),
                ("lo_init", ctypes.c_uint64 * 2)]


class _LoopConfig(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_uint32), ("block_size", ctypes.c_uint32),
                ("info", _LoopInfo64), ("reserved", ctypes.c_uint64 * 8)]


@dataclass
class LoopDevice:
    """An attached loop device; it detaches itself once closed and unmounted."""

    path: str
    fd: int

    def close(self) -> None:
        """Drop our reference (autoclear then frees it when it is not mounted)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def is_attached(device: str) -> bool:
    """Whether loop ``device`` (``/dev/loopN``) still has a backing file."""
    name = os.path.basename(device)
    return os.path.exists(f"/sys/block/{name}/loop/backing_file")


def attach_loop(backing: str, *, read_only: bool = True, attempts: int = 20) -> LoopDevice:
    """Attach ``backing`` to a free loop device with autoclear (and read-only if asked)."""
    flags = os.O_RDONLY if read_only else os.O_RDWR
    backing_fd = os.open(backing, flags | os.O_CLOEXEC)
    try:
        ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(attempts):
                number = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                path = f"/dev/loop{number}"
                dev = os.open(path, flags | os.O_CLOEXEC)
                cfg = _LoopConfig(fd=backing_fd)
                cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (LO_FLAGS_READ_ONLY if read_only else 0)
                cfg.info.lo_file_name = os.fsencode(backing)[:63]
                try:
                    fcntl.ioctl(dev, LOOP_CONFIGURE, cfg)
                except OSError as exc:
                    os.close(dev)
                    if exc.errno == errno.EBUSY:
                        continue
                    raise
                return LoopDevice(path, dev)
            raise OSError(errno.EBUSY, "no free loop device", backing)
        finally:
            os.close(ctl)
    finally:
        os.close(backing_fd)
