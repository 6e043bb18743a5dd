"""Read pcap / pcapng captures (plain or compressed) as chunks of decoded numpy columns.

    for chunk in read_chunks(path, 1_000_000):
        chunk.src_ip, chunk.dst_port, chunk.fingerprints, ...

On damage (wrong magic, truncated record, absurd length, corrupt compression) every good
packet before it is yielded first, then :class:`~iotnotice.errors.InputError` names the file
and byte offset (of the decompressed stream for compressed input).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iotnotice.capture import kernel
from iotnotice.capture.formats import Window, open_window, parse_pcap_header, sniff_format
from iotnotice.errors import InputError
from iotnotice.schemas import PACKET, numpy_dtype

__all__ = ["PacketChunk", "read_chunks"]

_DTYPES = {c.name: numpy_dtype(c) for c in PACKET}
# Packets decoded per kernel call: consumed input pages are released after each call, so a
# large chunk does not keep its whole stretch of the mapped file resident.
_STEP = 131072
_COLUMNS = tuple(c.name for c in PACKET)
# numba dispatchers, typed loosely for mypy.
_walk_pcap: Any = kernel.walk_pcap
_walk_pcapng: Any = kernel.walk_pcapng


@dataclass
class PacketChunk:
    """Decoded IP packets: one numpy array per ``schemas.PACKET`` column, plus counters.

    ``src_ip6``/``dst_ip6`` are (n, 16) byte arrays, meaningful on rows with ip_version 6.
    ``frames`` counts records read, ``non_ip`` those without an IP packet (not in the
    columns), ``bytes_read`` the bytes of the file on disk consumed for this chunk.
    """

    columns: dict[str, np.ndarray]
    src_ip6: np.ndarray
    dst_ip6: np.ndarray
    frames: int = 0
    non_ip: int = 0
    bytes_read: int = 0

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.columns["ts"])

    @classmethod
    def empty(cls, n: int) -> PacketChunk:
        """Uninitialised columns for ``n`` packets (pages are touched only when written)."""
        cols = {name: np.empty(n, dtype=_DTYPES[name]) for name in _COLUMNS}
        return cls(cols, np.empty((n, 16), np.uint8), np.empty((n, 16), np.uint8))

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        return (*(self.columns[c] for c in _COLUMNS), self.src_ip6, self.dst_ip6)

    def truncated(self, n: int) -> PacketChunk:
        """The first ``n`` rows (views), counters kept."""
        cols = {k: v[:n] for k, v in self.columns.items()}
        return PacketChunk(
            cols, self.src_ip6[:n], self.dst_ip6[:n], self.frames, self.non_ip, self.bytes_read
        )


class _Decoder:
    """Walks one file's records with the right kernel, across window refills."""

    def __init__(self, win: Window) -> None:
        self.win = win
        head = win.buf[:24].tobytes()
        self.kind = sniff_format(head)
        if not self.kind and win.failure:
            raise InputError(win.path, win.failure, 0)
        if not self.kind:
            what = (
                "empty file" if len(head) == 0 else "not a pcap or pcapng capture (unknown magic)"
            )
            raise InputError(win.path, what, 0)
        if self.kind == "pcap":
            if len(head) < 24:
                raise InputError(win.path, "truncated pcap header", len(head))
            self.hdr = parse_pcap_header(head)
            self.max_caplen = max(kernel.MAX_CAPLEN, min(self.hdr.snaplen, kernel.MAX_BLOCK))
            self.pos = 24
        else:
            self.state = np.zeros(3, dtype=np.int64)
            m = kernel.MAX_INTERFACES
            self.ifaces = tuple(np.zeros(m, dtype=np.int64) for _ in range(4))
            self.pos = 0

    def walk(self, chunk: PacketChunk, start: int, cap: int) -> tuple[int, int, int, int]:
        cols = tuple(a[start:] for a in chunk.kernel_args())
        buf = self.win.buf
        if self.kind == "pcap":
            h = self.hdr
            n, pos, frames, non_ip, status = _walk_pcap(
                buf, self.pos, len(buf), h.big, h.frac_ns, h.linktype, self.max_caplen, cols, cap
            )
        else:
            n, pos, frames, non_ip, status = _walk_pcapng(
                buf, self.pos, len(buf), self.state, *self.ifaces, cols, cap
            )
        self.pos = pos
        return n, frames, non_ip, status

    def damage(self, status: int) -> str:
        if self.win.failure:
            return self.win.failure
        if status == kernel.ABSURD:
            return "record with an impossible captured length"
        if status == kernel.BAD_BLOCK:
            return "broken pcapng block"
        return "truncated record at end of file"


def read_chunks(
    path: Path, chunk_packets: int = 1_000_000, *, reuse: bool = False
) -> Iterator[PacketChunk]:
    """Decoded IP packets of ``path`` in chunks of at most ``chunk_packets`` rows.

    With ``reuse``, every chunk is decoded into the same arrays: a consumer that is done with
    a chunk before it asks for the next one saves allocating (and page-faulting) fresh columns.
    """
    path = Path(path)
    if chunk_packets < 1:
        raise ValueError("chunk_packets must be positive")
    win = open_window(path)
    try:
        yield from _read(win, chunk_packets, reuse)
    finally:
        win.close()


def _read(win: Window, chunk_packets: int, reuse: bool = False) -> Iterator[PacketChunk]:
    dec = _Decoder(win)
    chunk = PacketChunk.empty(chunk_packets)
    rows = 0
    last_raw = 0
    while True:
        n, frames, non_ip, status = dec.walk(chunk, rows, min(chunk_packets - rows, _STEP))
        rows += n
        chunk.frames += frames
        chunk.non_ip += non_ip
        if status == kernel.FULL and rows < chunk_packets:
            win.release(dec.pos)
            continue
        if status == kernel.FULL:
            raw = win.raw_pos(dec.pos)
            chunk.bytes_read, last_raw = raw - last_raw, raw
            yield chunk
            win.release(dec.pos)
            if reuse:
                chunk = PacketChunk(chunk.columns, chunk.src_ip6, chunk.dst_ip6)
            else:
                chunk = PacketChunk.empty(chunk_packets)
            rows = 0
            continue
        if status == kernel.NEED_MORE and not win.eof:
            dec.pos -= win.refill(dec.pos)
            continue
        if status == kernel.OK and not win.eof:
            dec.pos -= win.refill(dec.pos)
            continue
        chunk.bytes_read = win.raw_pos(dec.pos) - last_raw
        out = chunk.truncated(rows)
        if status == kernel.OK and not win.failure:
            if rows or out.frames:
                yield out
            return
        offset = win.base + dec.pos
        reason = dec.damage(status)
        if win.codec:
            reason += f" (offset in the decompressed {win.codec} stream)"
        if rows or out.frames:
            yield out
        raise InputError(win.path, reason, offset)
