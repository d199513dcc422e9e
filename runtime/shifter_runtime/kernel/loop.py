"""Loop devices through /dev/loop-control and LOOP_CONFIGURE (autoclear, so none leak)."""
from __future__ import annotations

import errno
import fcntl
import os
import struct
from dataclasses import dataclass

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4


# struct loop_config: fd, block_size, then struct loop_info64 (device, inode, rdevice,
# offset, sizelimit; number, encrypt_type, encrypt_key_size, flags; file_name[64],
# crypt_name[64], encrypt_key[32], init[2]) and 8 reserved __u64: 304 bytes.
_LOOP_CONFIG = struct.Struct("=II5Q4I64s64s32s2Q8Q")


def _loop_config(backing_fd: int, flags: int, name: bytes) -> bytes:
    return _LOOP_CONFIG.pack(backing_fd, 0, 0, 0, 0, 0, 0, 0, 0, 0, flags, name[:63], b"",
                             b"", 0, 0, *(0,) * 8)


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
                cfg = _loop_config(backing_fd, LO_FLAGS_AUTOCLEAR
                                   | (LO_FLAGS_READ_ONLY if read_only else 0), os.fsencode(backing))
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
