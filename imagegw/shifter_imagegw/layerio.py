"""Open layer blobs as forward-seekable tar streams (gzip, zstd or plain, by magic bytes).

gzip is inflated by a background thread (zlib releases the GIL), so tar parsing in the caller
and decompression run on two cores.
"""
from __future__ import annotations

import queue
import threading
import zlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
_EOF = object()


class ThreadedInflate:
    """Read-only, forward-seekable stream of a (multi-member) gzip file, inflated in a thread."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")
        self._q: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._buf = b""
        self._off = 0
        self._pos = 0
        self._done = False
        self._thread = threading.Thread(target=self._inflate, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _inflate(self) -> None:
        try:
            d, fed = zlib.decompressobj(wbits=31), False
            while not self._stop.is_set():
                raw = self._fh.read(CHUNK)
                if not raw:
                    break
                while True:
                    out, fed = d.decompress(raw, CHUNK), True      # bounded output: bounded memory
                    if out and not self._put(out):
                        return
                    if d.eof:                                # next gzip member, if any
                        raw = d.unused_data.lstrip(b"\0")
                        d, fed = zlib.decompressobj(wbits=31), False
                        if not raw:
                            break
                        continue
                    raw = d.unconsumed_tail
                    if not raw and len(out) < CHUNK:         # input used up, nothing held back
                        break
            if fed and not d.eof:
                raise EOFError("compressed layer is truncated")
            self._put(_EOF)
        except (zlib.error, EOFError, OSError) as err:
            self._put(err)

    def _fill(self) -> bool:
        if self._done:
            return False
        item = self._q.get()
        if item is _EOF:
            self._done = True
            return False
        if isinstance(item, Exception):
            self._done = True
            raise OSError(f"cannot decompress layer: {item}")
        self._buf, self._off = item, 0
        return True

    def read(self, n: int = -1) -> bytes:
        parts = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            avail = len(self._buf) - self._off
            if avail == 0:
                if not self._fill():
                    break
                continue
            take = min(avail, want)
            parts.append(self._buf[self._off:self._off + take])
            self._off += take
            want -= take
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence != 0:
            raise OSError("layer streams only seek forward from the start or current position")
        if offset < self._pos:
            raise OSError("layer streams cannot seek backwards")
        while offset > self._pos and self.read(min(CHUNK, offset - self._pos)):
            pass
        return self._pos

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._fh.close()

    def __enter__(self) -> "ThreadedInflate":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_layer(path: Path) -> BinaryIO:
    """Open a layer blob, decompressing gzip or zstd by its magic bytes."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return ThreadedInflate(path)
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_size=CHUNK, closefd=True)
    return open(path, "rb")
