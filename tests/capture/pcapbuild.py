"""Build packets and capture files byte by byte (struct), for the reader and store tests."""

from __future__ import annotations

import bz2
import gzip
import lzma
import socket
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

Record = tuple[float, bytes]  # (timestamp seconds, frame bytes)


def ip4(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")


def tcp(
    sport: int = 40000,
    dport: int = 23,
    seq: int = 0,
    flags: int = 0x02,
    window: int = 5840,
    options: bytes = b"",
    doff: int | None = None,
) -> bytes:
    hlen = 20 + len(options)
    off = (doff if doff is not None else hlen // 4) << 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, off, flags, window, 0, 0) + options


def udp(sport: int = 5353, dport: int = 53, payload: bytes = b"abcd") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(type_: int = 8, code: int = 0) -> bytes:
    return struct.pack("!BBHI", type_, code, 0, 0)


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    proto: int = 6,
    ttl: int = 64,
    ip_id: int = 1,
    options: bytes = b"",
    frag_offset: int = 0,
    more_fragments: bool = False,
    total_len: int | None = None,
) -> bytes:
    ihl = (20 + len(options)) // 4
    length = total_len if total_len is not None else 20 + len(options) + len(payload)
    frag = (0x2000 if more_fragments else 0) | frag_offset
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        length,
        ip_id,
        frag,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return hdr + options + payload


def ipv6(src: str, dst: str, payload: bytes, next_header: int = 6, hop_limit: int = 64) -> bytes:
    hdr = struct.pack("!IHBB", 0x60000000, len(payload), next_header, hop_limit)
    return (
        hdr
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def ethernet(
    ip: bytes, vlans: Sequence[tuple[int, int]] = (), ethertype: int | None = None
) -> bytes:
    """An Ethernet frame; ``vlans`` are (tpid, vid) tags outermost first."""
    et = ethertype if ethertype is not None else (0x86DD if ip[0] >> 4 == 6 else 0x0800)
    tags = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in vlans)
    return b"\x02" * 6 + b"\x04" * 6 + tags + struct.pack("!H", et) + ip


def sll(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, proto) + ip


def sll2(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, b"\x02" * 8) + ip


def null_loop(ip: bytes, big: bool, family: int | None = None) -> bytes:
    fam = family if family is not None else (30 if ip[0] >> 4 == 6 else 2)
    return struct.pack(">I" if big else "<I", fam) + ip


def pcap_bytes(
    records: Iterable[Record],
    linktype: int = 1,
    big: bool = False,
    nano: bool = False,
    snaplen: int = 65535,
) -> bytes:
    """A classic pcap file; frames longer than ``snaplen`` are cut as tcpdump would."""
    o = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    scale = 1_000_000_000 if nano else 1_000_000
    for ts, frame in records:
        sec = int(ts)
        frac = round((ts - sec) * scale)
        cut = frame[:snaplen]
        out.append(struct.pack(o + "IIII", sec, frac, len(cut), len(frame)) + cut)
    return b"".join(out)


def _block(btype: int, body: bytes, o: str) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def _option(code: int, value: bytes, o: str) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def pcapng_shb(big: bool = False) -> bytes:
    o = ">" if big else "<"
    return _block(0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1), o)


def pcapng_idb(
    linktype: int, tsresol: int | None = None, big: bool = False, snaplen: int = 0
) -> bytes:
    o = ">" if big else "<"
    opts = b""
    if tsresol is not None:
        opts = _option(9, bytes([tsresol]), o) + _option(0, b"", o)
    return _block(1, struct.pack(o + "HHI", linktype, 0, snaplen) + opts, o)


def pcapng_epb(iface: int, ticks: int, frame: bytes, big: bool = False) -> bytes:
    o = ">" if big else "<"
    body = struct.pack(o + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return _block(6, body + frame, o)


def pcapng_spb(frame: bytes, big: bool = False) -> bytes:
    o = ">" if big else "<"
    return _block(3, struct.pack(o + "I", len(frame)) + frame, o)


def pcapng_unknown(big: bool = False) -> bytes:
    o = ">" if big else "<"
    return _block(0x00000BAD, b"custom block body", o)


def compress(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    if codec == "bzip2":
        return bz2.compress(data)
    if codec == "zstd":
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as out:
            out.write(data)
        return sink.getvalue().to_pybytes()
    raise ValueError(codec)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
