"""Vectorised classic-pcap writer: packet columns -> Ethernet/IPv4 frames with valid checksums.

Every packet has one *layout* (a fixed frame shape: TCP without options, TCP with Linux options,
ICMP error, ...). Packets of one layout become one numpy structured array (a byte matrix whose
constant bytes come from a template and whose fields are assigned column-wise), checksums are
computed column-wise, and a small numba kernel copies each row to its place in the time-ordered
output buffer. Frames shorter than Ethernet's 60-byte minimum carry padding, as on the wire.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from numba import njit

__all__ = [
    "LAYOUTS",
    "PCAP_HEADER",
    "Layout",
    "PcapWriter",
    "encode_records",
    "ipv4_checksum",
]

LINKTYPE_ETHERNET = 1
_BLOCK = 16384  # packets encoded at a time
SNAPLEN = 262144
# Classic pcap, microsecond resolution, written little-endian.
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)

_REC, _ETH, _IP = 16, 14, 20
_L4 = _REC + _ETH + _IP  # offset of the transport header inside a record
# Locally administered MACs: the upstream router -> the telescope's capture interface.
_ETHERNET = bytes.fromhex("0200000000010200000000fe0800")

# Option bytes. MSS 1460; Linux: MSS, SACK-permitted, timestamps, NOP, window scale 7;
# Windows: MSS, NOP, window scale 8, NOP, NOP, SACK-permitted.
_OPT_MSS = bytes.fromhex("020405b4")
_OPT_LINUX = bytes.fromhex("020405b40402080a000000000000000001030307")
_OPT_WINDOWS = bytes.fromhex("020405b40103030801010402")
# A DNS answer for example.com A 93.184.215.14 (the id is a field).
_DNS_ANSWER = bytes.fromhex(
    "0000" "8180" "0001" "0001" "0000" "0000"
    "076578616d706c6503636f6d00" "0001" "0001"
    "c00c" "0001" "0001" "00000e10" "0004" "5db8d70e"
)  # fmt: skip
_PING_PAYLOAD = bytes(range(0x10, 0x10 + 56))


@dataclass(frozen=True)
class Layout:
    """One frame shape: its constant bytes and where each column goes."""

    name: str
    protocol: int
    l4_bytes: bytes  # transport header + payload with variable fields zeroed
    tcp_doff: int = 0  # TCP data offset in 32-bit words (0 for UDP/ICMP)
    fields: tuple[tuple[str, int, str], ...] = ()  # (column, offset in l4, dtype)
    trailer: bytes = b""  # bytes after the IP packet (Ethernet padding)

    @property
    def ip_len(self) -> int:
        return _IP + len(self.l4_bytes)

    @property
    def frame_len(self) -> int:
        return max(60, _ETH + self.ip_len + len(self.trailer))

    @property
    def record_len(self) -> int:
        return _REC + self.frame_len

    def template(self) -> np.ndarray:
        """The record's constant bytes."""
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, self.ip_len, 0, 0, 0, self.protocol, 0, b"", b"")
        frame = _ETHERNET + ip + self.l4_bytes + self.trailer
        frame = frame.ljust(self.frame_len, b"\0")
        head = struct.pack("<IIII", 0, 0, len(frame), len(frame))
        return np.frombuffer(head + frame, dtype=np.uint8)

    def dtype(self) -> np.dtype:
        """Structured dtype naming every variable field of the record."""
        spec = {
            "ts_sec": (0, "<u4"),
            "ts_usec": (4, "<u4"),
            "ip_id": (_REC + _ETH + 4, ">u2"),
            "ip_frag": (_REC + _ETH + 6, ">u2"),
            "ttl": (_REC + _ETH + 8, "u1"),
            "ip_sum": (_REC + _ETH + 10, ">u2"),
            "src": (_REC + _ETH + 12, ">u4"),
            "dst": (_REC + _ETH + 16, ">u4"),
        }
        for column, offset, kind in self.fields:
            spec[column] = (_L4 + offset, kind)
        names = list(spec)
        return np.dtype(
            {
                "names": names,
                "formats": [spec[n][1] for n in names],
                "offsets": [spec[n][0] for n in names],
                "itemsize": self.record_len,
            }
        )


def _tcp(doff: int, options: bytes) -> bytes:
    return bytes(12) + bytes([doff << 4]) + bytes(7) + options


_TCP_FIELDS = (
    ("sport", 0, ">u2"),
    ("dport", 2, ">u2"),
    ("seq", 4, ">u4"),
    ("ack", 8, ">u4"),
    ("flags", 13, "u1"),
    ("window", 14, ">u2"),
    ("l4_sum", 16, ">u2"),
)
_UDP_FIELDS = (("sport", 0, ">u2"), ("dport", 2, ">u2"), ("l4_sum", 6, ">u2"))
_ICMP_FIELDS = (("sport", 0, "u1"), ("dport", 1, "u1"), ("l4_sum", 2, ">u2"), ("seq", 4, ">u4"))


def _udp(payload: bytes) -> bytes:
    return struct.pack(">HHHH", 0, 0, 8 + len(payload), 0) + payload


def _icmp_error() -> bytes:
    # ICMP header, then the offending datagram's IPv4 header (variable fields filled per packet)
    # and its first 8 bytes (a UDP header).
    inner = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 0, 17, 0, b"", b"")
    return bytes(8) + inner + bytes(8)


# Fields of the datagram quoted in an ICMP error: its source is our destination and vice versa.
_ICMP_ERR_FIELDS = (
    *_ICMP_FIELDS[:3],
    ("inner_len", 10, ">u2"),
    ("inner_id", 12, ">u2"),
    ("inner_ttl", 16, "u1"),
    ("inner_sum", 18, ">u2"),
    ("inner_src", 20, ">u4"),
    ("inner_dst", 24, ">u4"),
    ("inner_sport", 28, ">u2"),
    ("inner_dport", 30, ">u2"),
    ("inner_ulen", 32, ">u2"),
)

# Layout numbers are stored per packet; keep them stable.
TCP_PLAIN, TCP_QUIRK, TCP_MSS, TCP_LINUX, TCP_WINDOWS = 0, 1, 2, 3, 4
UDP_SMALL, UDP_DNS, ICMP_ECHO, ICMP_PING, ICMP_ERROR = 5, 6, 7, 8, 9

LAYOUTS: tuple[Layout, ...] = (
    Layout("tcp", 6, _tcp(5, b""), 5, _TCP_FIELDS),
    # The 2020 Mirai variant: data offset 6 (24 bytes) inside a 40-byte IP packet. The 4 option
    # bytes the header claims are left in the sender's buffer, so they end up in the padding.
    Layout("tcp-quirk", 6, _tcp(6, b""), 6, _TCP_FIELDS, trailer=_OPT_MSS),
    Layout("tcp-mss", 6, _tcp(6, _OPT_MSS), 6, _TCP_FIELDS),
    Layout("tcp-linux", 6, _tcp(10, _OPT_LINUX), 10, (*_TCP_FIELDS, ("tsval", 28, ">u4"))),
    Layout("tcp-windows", 6, _tcp(8, _OPT_WINDOWS), 8, _TCP_FIELDS),
    Layout("udp", 17, _udp(bytes(12)), 0, _UDP_FIELDS),
    Layout("udp-dns", 17, _udp(_DNS_ANSWER), 0, (*_UDP_FIELDS, ("dns_id", 8, ">u2"))),
    Layout("icmp-echo", 1, bytes(8), 0, _ICMP_FIELDS),
    Layout("icmp-ping", 1, bytes(8) + _PING_PAYLOAD, 0, _ICMP_FIELDS),
    Layout("icmp-error", 1, _icmp_error(), 0, _ICMP_ERR_FIELDS),
)
RECORD_LEN = np.array([layout.record_len for layout in LAYOUTS], dtype=np.int64)
IP_LEN = np.array([layout.ip_len for layout in LAYOUTS], dtype=np.uint16)
TCP_DOFF = np.array([layout.tcp_doff for layout in LAYOUTS], dtype=np.uint8)
PROTOCOL = np.array([layout.protocol for layout in LAYOUTS], dtype=np.uint8)
_TEMPLATES = [layout.template() for layout in LAYOUTS]
_DTYPES = [layout.dtype() for layout in LAYOUTS]


def _fold(total: np.ndarray) -> np.ndarray:
    """One's-complement checksum of 32-bit partial sums."""
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).astype(np.uint16)


def _const_sum(data: bytes) -> int:
    """Sum of the big-endian 16-bit words of constant bytes."""
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f">{len(data) // 2}H", data))


def _words(value: np.ndarray, offset: int, kind: str) -> np.ndarray:
    """A field's contribution to a 16-bit word sum, given its offset from an even boundary."""
    v = value.astype(np.uint32)
    if kind.endswith("u4"):
        return (v >> 16) + (v & 0xFFFF)
    if kind == "u1" and offset % 2 == 0:
        return v << 8
    return v


def _field_sum(
    fields: tuple[tuple[str, int, str], ...], vals: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Word sum of the variable fields (the constant bytes are summed once per layout)."""
    total = np.zeros(len(next(iter(vals.values()))), dtype=np.uint32)
    for name, offset, kind in fields:
        total += _words(vals[name], offset, kind)
    return total


def _addr_sum(addr: np.ndarray) -> np.ndarray:
    a = addr.astype(np.uint32)
    return (a >> 16) + (a & 0xFFFF)


def ipv4_checksum(
    ip_len: np.ndarray | int,
    ip_id: np.ndarray,
    frag: np.ndarray | int,
    ttl: np.ndarray,
    protocol: np.ndarray | int,
    src: np.ndarray,
    dst: np.ndarray,
) -> np.ndarray:
    """IPv4 header checksums of option-less headers, computed from the field columns."""
    total = np.uint32(0x4500) + np.asarray(ip_len, np.uint32) + ip_id.astype(np.uint32)
    total = total + np.asarray(frag, np.uint32)
    total = total + ((ttl.astype(np.uint32) << 8) | np.asarray(protocol, np.uint32))
    return _fold(total + _addr_sum(src) + _addr_sum(dst))


# The quoted datagram of an ICMP error has its own header checksum.
_INNER_HEADER = tuple(
    f for f in _ICMP_ERR_FIELDS if f[0].startswith("inner_") and f[0] != "inner_sum" and f[1] < 28
)


def _checksums(layout: Layout, vals: dict[str, np.ndarray]) -> None:
    """Add ip_sum, l4_sum (and inner_sum) to ``vals``, from the field columns."""
    vals["ip_sum"] = ipv4_checksum(
        layout.ip_len, vals["ip_id"], vals["ip_frag"], vals["ttl"], layout.protocol,
        vals["src"], vals["dst"],
    )  # fmt: skip
    variable = tuple(f for f in layout.fields if f[0] not in ("l4_sum", "inner_sum"))
    if layout.name == "icmp-error":
        inner = _const_sum(layout.l4_bytes[8:28]) + _field_sum(
            tuple((n, o - 8, k) for n, o, k in _INNER_HEADER), vals
        )
        vals["inner_sum"] = _fold(inner)
        variable += (("inner_sum", 18, ">u2"),)
    total = _const_sum(layout.l4_bytes) + _field_sum(variable, vals)
    if layout.protocol != 1:  # TCP and UDP add the pseudo-header
        total += _addr_sum(vals["src"]) + _addr_sum(vals["dst"])
        total += np.uint32(layout.protocol + layout.ip_len - _IP)
    vals["l4_sum"] = _fold(total)


@njit(cache=True, nogil=True)
def _place(out: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> None:
    # The one step numpy cannot vectorise: rows of one length to ragged offsets (a memcpy each).
    width = rows.shape[1]
    for k in range(rows.shape[0]):
        start = offsets[k]
        out[start : start + width] = rows[k]


def _columns(layout: Layout) -> tuple[str, ...]:
    own = tuple(f[0] for f in layout.fields if f[0] not in ("l4_sum", "inner_sum"))
    return ("ts", "ip_id", "ip_frag", "ttl", "src", "dst", *own)


_COLUMNS = [_columns(layout) for layout in LAYOUTS]


def encode_records(cols: Mapping[str, np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """pcap records (header + frame) of time-ordered packet columns, as one uint8 buffer.

    ``cols`` holds equal-length arrays: ts (µs), layout, src, dst, ip_id, ip_frag, ttl and the
    layout fields (sport, dport, seq, ack, flags, window, tsval, dns_id, inner_*). Returns a
    uint8 view of ``out`` when that is large enough (reusing it saves page faults per chunk).
    """
    layout_of = cols["layout"]
    lengths = RECORD_LEN[layout_of]
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    if out is None or len(out) < total:
        # Headroom: chunks vary in size, and a fresh buffer costs a page fault per 4 KiB.
        out = np.empty(max(total + total // 4, 1), dtype=np.uint8)
    present = np.bincount(layout_of, minlength=len(LAYOUTS))
    for number in np.flatnonzero(present):
        sel = np.flatnonzero(layout_of == number)
        # Blocks small enough that the record matrix stays in cache while fields are written.
        for a in range(0, len(sel), _BLOCK):
            part = sel[a : a + _BLOCK]
            rows = _rows(int(number), {name: cols[name][part] for name in _COLUMNS[number]})
            _place(out, offsets[part], rows)
    return out[:total]


def _rows(number: int, vals: dict[str, np.ndarray]) -> np.ndarray:
    """The records of one layout as a byte matrix (one row per packet)."""
    layout = LAYOUTS[number]
    m = len(vals["ts"])
    rec = np.empty(m, dtype=_DTYPES[number])
    rows = rec.view(np.uint8).reshape(m, layout.record_len)
    rows[:] = _TEMPLATES[number]
    sec, usec = np.divmod(vals.pop("ts"), 1_000_000)
    rec["ts_sec"], rec["ts_usec"] = sec, usec
    _checksums(layout, vals)
    for name, value in vals.items():
        rec[name] = value
    return rows


class PcapWriter:
    """Appends encoded chunks to an open binary file, after the global header."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.bytes = len(PCAP_HEADER)
        self._buffer: np.ndarray | None = None
        fh.write(PCAP_HEADER)

    def write(self, cols: Mapping[str, np.ndarray]) -> int:
        """Encode and write time-ordered packet columns; returns the bytes written."""
        records = encode_records(cols, self._buffer)
        self._buffer = records.base if isinstance(records.base, np.ndarray) else records
        self.fh.write(records.data)
        self.bytes += len(records)
        return len(records)
