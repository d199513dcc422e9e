"""Layers -> squashfs: merged tar stream into ``tar2sqfs`` (no unpacking), mksquashfs fallback."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import BinaryIO

from .flatten import FlattenError, Plan, index_layer, plan_merge, write_merged
from .layerio import open_layer


class ConversionError(Exception):
    """The converter failed (its last error line is in the message)."""


@dataclass(frozen=True)
class ConverterOptions:
    """How to build the squashfs.

    ``converter``: ``auto`` (tar2sqfs when installed), ``tar2sqfs`` or ``mksquashfs``.
    ``mksquashfs_options``: upstream's ``ConverterOptions.squashfs`` (replaces ``-no-xattrs``);
    setting it selects mksquashfs, as upstream sites expect those flags to apply.
    """
    converter: str = "auto"
    compressor: str = "zstd"
    level: int | None = 6
    block_size: int = 131072
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    mksquashfs_options: tuple[str, ...] | None = None
    tar2sqfs_options: tuple[str, ...] = ()
    max_unpacked: int = 100 << 30        # bytes all layers may unpack to (0: no cap): a gzip/zstd bomb fails

    @classmethod
    def coerce(cls, value: "ConverterOptions | Mapping | None") -> "ConverterOptions":
        """Accept an instance, None, or the ``ConverterOptions`` config mapping."""
        if value is None:
            return cls()
        if isinstance(value, ConverterOptions):
            return value
        kwargs: dict = {}
        if "squashfs" in value:
            opts = value["squashfs"]
            kwargs["mksquashfs_options"] = tuple(opts.split() if isinstance(opts, str) else opts)
            kwargs["converter"] = "mksquashfs"
        if "tar2sqfs" in value:
            opts = value["tar2sqfs"]
            kwargs["tar2sqfs_options"] = tuple(opts.split() if isinstance(opts, str) else opts)
        for key in ("converter", "compressor", "level", "block_size", "jobs", "max_unpacked"):
            if key in value:
                kwargs[key] = value[key]
        opts = cls(**kwargs)
        if opts.converter not in ("auto", "tar2sqfs", "mksquashfs"):
            raise ConversionError(f"ConverterOptions.converter: unknown converter {opts.converter!r}")
        if type(opts.max_unpacked) is not int or opts.max_unpacked < 0:
            raise ConversionError(f"ConverterOptions.max_unpacked: not a byte count: {opts.max_unpacked!r}")
        return opts

    def tool(self) -> str:
        if self.converter != "auto":
            return self.converter
        return "tar2sqfs" if shutil.which("tar2sqfs") else "mksquashfs"


class _Budget:
    """Bytes the layers of one image may still unpack to, shared by the pass-1 threads."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit
        self._lock = Lock()

    def charge(self, n: int) -> None:
        with self._lock:
            self.left -= n
            if self.left < 0:
                raise FlattenError(f"layers unpack to more than {self.limit} bytes (ConverterOptions.max_unpacked)")


class _Capped:
    """A forward-only layer stream that charges each byte to a :class:`_Budget` before moving
    past it (a tar member is skipped by one seek: the budget is checked before inflating it)."""

    def __init__(self, inner: BinaryIO, budget: _Budget) -> None:
        self.inner, self.budget, self.high = inner, budget, 0

    def _reach(self, target: int) -> None:
        if target > self.high:
            self.budget.charge(target - self.high)
            self.high = target

    def read(self, n: int = -1) -> bytes:
        if n >= 0:
            self._reach(self.inner.tell() + n)
        data = self.inner.read(n)
        self._reach(self.inner.tell())
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence not in (0, 1):
            raise io.UnsupportedOperation("seek relative to the end of a capped stream")
        self._reach(offset + (self.inner.tell() if whence == 1 else 0))
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()


def index_layers(layers: list[Path], jobs: int = 2, max_unpacked: int = 0) -> Plan:
    """Pass 1 over every layer (in parallel) and the merge plan; :class:`FlattenError` once the
    layers together unpack to more than ``max_unpacked`` bytes (0: no cap)."""
    budget = _Budget(max_unpacked) if max_unpacked else None

    def one(path: Path):
        with open_layer(path) as fh:
            return index_layer(_Capped(fh, budget) if budget else fh)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(layers) or 1))) as pool:
        entries = list(pool.map(one, layers))
    return plan_merge(entries)


def convert_layers(layers: list[Path], out: Path, options: ConverterOptions, work: Path,
                   on_progress: Callable[[int, int], None] | None = None) -> Plan:
    """Flatten ``layers`` (bottom first) into the squashfs ``out``; returns the merge plan.

    ``on_progress(done, total)`` reports file bytes streamed into the converter.
    """
    plan = index_layers(layers, options.jobs, options.max_unpacked)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, plan.file_bytes)

    on_bytes(0)
    tool = options.tool()
    if tool == "tar2sqfs":
        # xattrs are kept: the stream carries only flatten's DIR_INDEX_XATTR marker
        cmd = ["tar2sqfs", "--quiet", "--force", "-c", options.compressor,
               "-b", str(options.block_size), "-j", str(options.jobs), "-d", "mode=0755,uid=0,gid=0"]
        if options.level is not None:
            cmd += ["-X", f"level={options.level}"]
        cmd += [*options.tar2sqfs_options, str(out)]
        _stream_into(cmd, plan, layers, on_bytes)
    else:
        root = work / "rootfs"
        root.mkdir()
        _stream_into(["tar", "-x", "-f", "-", "-C", str(root), "--no-same-owner", "--delay-directory-restore"],
                     plan, layers, on_bytes)
        extra = options.mksquashfs_options
        if extra is None:
            extra = ("-no-xattrs", "-comp", options.compressor, "-b", str(options.block_size),
                     "-processors", str(options.jobs))
            if options.level is not None and options.compressor in ("gzip", "zstd"):
                extra += ("-Xcompression-level", str(options.level))
        _run(["mksquashfs", str(root), str(out), "-all-root", "-noappend", "-quiet", "-no-progress", *extra])
        shutil.rmtree(root, ignore_errors=True)
    if not out.is_file():
        raise ConversionError(f"{tool} produced no image")
    return plan


def _stream_into(cmd: list[str], plan: Plan, layers: list[Path], on_bytes: Callable[[int], None]) -> None:
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as err:
        raise ConversionError(f"cannot run {cmd[0]}: {err.strerror}") from None
    failure: Exception | None = None
    try:
        write_merged(plan, lambda i: open_layer(layers[i]), proc.stdin, on_bytes)
    except (BrokenPipeError, ConnectionResetError):
        pass                                   # the converter died: its stderr says why
    except (FlattenError, OSError) as err:
        failure = err
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
    if failure is not None:
        proc.kill()
    err_text = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    rc = proc.wait()
    if failure is not None:
        raise failure if isinstance(failure, FlattenError) else ConversionError(str(failure))
    if rc != 0:
        raise ConversionError(f"{cmd[0]} failed (exit {rc}): {last_line(err_text)}")


def unpack_squashfs(image: Path, dest: Path) -> None:
    """Extract ``image`` into the new directory ``dest``, owned by the caller, without xattrs."""
    _run(["unsquashfs", "-q", "-n", "-no-xattrs", "-d", str(dest), str(image)])


def _run(cmd: list[str]) -> None:
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as err:
        raise ConversionError(f"cannot run {cmd[0]}: {err.strerror}") from None
    if res.returncode != 0:
        raise ConversionError(f"{cmd[0]} failed (exit {res.returncode}): "
                              f"{last_line(res.stdout.decode(errors='replace'))}")


def last_line(text: str, default: str = "no error output") -> str:
    """The last non-blank line of a tool's output (its error, usually)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else default
