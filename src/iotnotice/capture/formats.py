"""Capture containers: sniff compression and file format, and feed bytes to the kernel.

A plain file is memory-mapped whole; a compressed one is decompressed as a stream into a
sliding window, so nothing is ever fully decompressed to memory or disk.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import mmap
import struct
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from iotnotice.errors import InputError

__all__ = ["PcapHeader", "Window", "open_window", "parse_pcap_header", "sniff_format"]

# Small reads: a decompressor that fails loses only the read in progress.
_STREAM_READ = 1024 * 1024
# Exceptions the decompressors raise on corrupt or cut-off input.
_CODEC_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    ValueError,
)


# The decompressor objects are closed by Window.close(), hence no context managers here.
def _gzip_open(raw: BinaryIO) -> Any:
    return gzip.GzipFile(fileobj=raw, mode="rb")


def _xz_open(raw: BinaryIO) -> Any:
    return lzma.LZMAFile(raw, "rb")


def _bzip2_open(raw: BinaryIO) -> Any:
    return bz2.BZ2File(raw, "rb")


def _zstd_open(raw: BinaryIO) -> Any:
    # pyarrow's streaming zstd decoder: no extra dependency, bounded memory.
    return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")


_CODECS: tuple[tuple[bytes, str, Callable[[BinaryIO], Any]], ...] = (
    (b"\x1f\x8b", "gzip", _gzip_open),
    (b"\xfd7zXZ\x00", "xz", _xz_open),
    (b"\x28\xb5\x2f\xfd", "zstd", _zstd_open),
    (b"BZh", "bzip2", _bzip2_open),
)


class Window:
    """A byte window over the (decompressed) file: ``buf[0]`` is file offset ``base``."""

    def __init__(self, path: Path, raw: BinaryIO, stream: Any, codec: str) -> None:
        self.path = path
        self.codec = codec
        self._raw = raw
        self._stream = stream
        self._mmap: mmap.mmap | None = None
        self._released = 0
        self.base = 0
        self.eof = stream is None
        self.failure = ""  # why the decompressor stopped, when it did
        if stream is None:
            size = raw.seek(0, 2)
            if size == 0:
                self.buf = np.zeros(0, dtype=np.uint8)
            else:
                self._mmap = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
                self._mmap.madvise(mmap.MADV_SEQUENTIAL)
                self.buf = np.frombuffer(self._mmap, dtype=np.uint8)
        else:
            self.buf = np.zeros(0, dtype=np.uint8)
            self.refill(0)

    def raw_pos(self, pos: int) -> int:
        """Bytes of the file on disk consumed up to window offset ``pos`` (for progress)."""
        if self._stream is None:
            return self.base + pos
        return self._raw.tell()

    def release(self, upto: int) -> None:
        """Unmap the pages before window offset ``upto`` from this process (they stay cached).

        Decoded chunks hold copies, so consumed input need not count towards resident memory:
        without this a long file's mapped pages add up to its whole size.
        """
        if self._mmap is None:
            return
        end = upto - upto % mmap.PAGESIZE
        if end > self._released:
            self._mmap.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def refill(self, keep_from: int) -> int:
        """Drop bytes before ``keep_from``, append more; returns the shift applied to offsets."""
        if self.eof:
            return 0
        assert self._stream is not None
        try:
            more = self._stream.read(_STREAM_READ)
        except _CODEC_ERRORS as exc:
            self.eof = True
            self.failure = f"corrupt {self.codec} data ({exc})"
            more = b""
        if not more:
            self.eof = True
        tail = self.buf[keep_from:].tobytes()
        self.buf = np.frombuffer(tail + more, dtype=np.uint8)
        self.base += keep_from
        return keep_from

    def close(self) -> None:
        # numpy views keep the mmap exported; drop them before closing.
        self.buf = np.zeros(0, dtype=np.uint8)
        if self._mmap is not None:
            with suppress(BufferError):  # a caller still holding a view keeps the map alive
                self._mmap.close()
        if self._stream is not None:
            self._stream.close()
        self._raw.close()


def open_window(path: Path) -> Window:
    """Open ``path``, streaming through a decompressor when its magic says it is compressed."""
    try:
        raw: BinaryIO = path.open("rb")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a capture file") from None
    except OSError as exc:
        raise InputError(path, f"cannot open ({exc.strerror})") from None
    head = raw.read(6)
    raw.seek(0)
    for magic, name, opener in _CODECS:
        if head.startswith(magic):
            return Window(path, raw, opener(raw), name)
    return Window(path, raw, None, "")


@dataclass(frozen=True)
class PcapHeader:
    """The classic pcap global header."""

    big: bool
    frac_ns: int
    snaplen: int
    linktype: int


_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": (False, 1000),
    b"\xa1\xb2\xc3\xd4": (True, 1000),
    b"\x4d\x3c\xb2\xa1": (False, 1),
    b"\xa1\xb2\x3c\x4d": (True, 1),
}


def sniff_format(head: bytes) -> str:
    """'pcap', 'pcapng' or '' for the first bytes of a (decompressed) file."""
    if head[:4] in _PCAP_MAGIC:
        return "pcap"
    if head[:4] == b"\x0a\x0d\x0d\x0a":
        return "pcapng"
    return ""


def parse_pcap_header(head: bytes) -> PcapHeader:
    """Decode the 24-byte global header (caller checked the magic)."""
    big, frac_ns = _PCAP_MAGIC[head[:4]]
    order = ">" if big else "<"
    _major, _minor, _zone, _sig, snaplen, network = struct.unpack(order + "HHiIII", head[4:24])
    # The top bits of the link-type field carry FCS information (pcap-savefile(5)).
    return PcapHeader(big, frac_ns, snaplen, network & 0x0FFFFFFF)
