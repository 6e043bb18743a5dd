"""A minimal MaxMind DB (MMDB v2) writer for tests: IPv4 tree, 24-bit records.

Written from the published format specification (https://maxmind.github.io/MaxMind-DB/) so the
tests can feed real MMDB files to ``maxminddb``; it supports the types GeoLite2 records use.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

_TYPES = {
    "pointer": 1,
    "str": 2,
    "double": 3,
    "bytes": 4,
    "u16": 5,
    "u32": 6,
    "map": 7,
    "i32": 8,
    "u64": 9,
    "u128": 10,
    "array": 11,
}


def _control(kind: str, size: int) -> bytes:
    t = _TYPES[kind]
    if size < 29:
        head, extra = size, b""
    elif size < 285:
        head, extra = 29, bytes([size - 29])
    else:
        head, extra = 30, struct.pack(">H", size - 285)
    if t <= 7:
        return bytes([(t << 5) | head]) + extra
    return bytes([head, t - 7]) + extra


def encode(value: Any) -> bytes:
    """Encode one value in the MMDB data-section format."""
    if isinstance(value, tuple):  # (kind, int): an explicitly sized unsigned integer
        kind, number = value
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
        return _control(kind, len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control("str", len(raw)) + raw
    if isinstance(value, bool):
        raise TypeError("booleans not needed here")
    if isinstance(value, int):
        kind = "u16" if value < 2**16 else "u32" if value < 2**32 else "u64"
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
        return _control(kind, len(raw)) + raw
    if isinstance(value, dict):
        body = b"".join(encode(str(k)) + encode(v) for k, v in value.items())
        return _control("map", len(value)) + body
    if isinstance(value, list):
        return _control("array", len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(type(value))


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]], db_type: str) -> None:
    """Write an IPv4 MMDB mapping each CIDR to its record (networks must not overlap)."""
    nodes: list[list[Any]] = [[None, None]]  # child: int node index, ("data", offset) or None
    data = b""
    for cidr, record in networks.items():
        net = ipaddress.IPv4Network(cidr)
        offset = len(data)
        data += encode(record)
        bits = int(net.network_address)
        node = 0
        for depth in range(net.prefixlen):
            bit = (bits >> (31 - depth)) & 1
            if depth == net.prefixlen - 1:
                nodes[node][bit] = ("data", offset)
            else:
                if not isinstance(nodes[node][bit], int):
                    nodes.append([None, None])
                    nodes[node][bit] = len(nodes) - 1
                node = nodes[node][bit]
    count = len(nodes)

    def record(child: Any) -> int:
        if child is None:
            return count
        if isinstance(child, int):
            return child
        return count + 16 + child[1]

    tree = b"".join(record(a).to_bytes(3, "big") + record(b).to_bytes(3, "big") for a, b in nodes)
    meta = {
        "node_count": ("u32", count),
        "record_size": ("u16", 24),
        "ip_version": ("u16", 4),
        "database_type": db_type,
        "languages": ["en"],
        "binary_format_major_version": ("u16", 2),
        "binary_format_minor_version": ("u16", 0),
        "build_epoch": ("u64", 1_700_000_000),
        "description": {"en": "iotnotice test database"},
    }
    path.write_bytes(tree + bytes(16) + data + b"\xab\xcd\xefMaxMind.com" + encode(meta))
