"""Aggregate decoded packets into corsaro-style flow tuples (one row per interval and key).

Grouping is a numba hash aggregation over the packet columns: one pass, no Python object per
packet, fingerprint bits counted per row. Rows keep first-seen order; the writer sorts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from iotnotice.capture.reader import PacketChunk
from iotnotice.schemas import FLOW_TUPLE, arrow_schema

__all__ = ["FLOW_SCHEMA", "aggregate"]

FLOW_SCHEMA = arrow_schema(FLOW_TUPLE)
# Fingerprint bit -> counter column, in FLOW_TUPLE order.
_COUNTERS = ("mirai_cnt", "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt")
# Packet columns copied to the flow row from the group's first packet.
_KEY_COLUMNS = (
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "ttl",
    "tcp_flags",
    "ip_len",
    "tcp_synlen",
    "tcp_synwinlen",
)


@njit(cache=True, inline="always")
def _mix(h: np.uint64, v: np.uint64) -> np.uint64:
    h ^= v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    return h


@njit(cache=True)
def _pack(time: np.ndarray, ver: np.ndarray, c: tuple, i: int, out: np.ndarray) -> None:
    """Pack packet ``i``'s flow key into four 64-bit words."""
    src, dst, sp, dp, pr, ttl, fl, ln, sl, sw = c
    out[i, 0] = np.uint64(time[i])
    out[i, 1] = (np.uint64(src[i]) << np.uint64(32)) | np.uint64(dst[i])
    out[i, 2] = (
        (np.uint64(sp[i]) << np.uint64(48))
        | (np.uint64(dp[i]) << np.uint64(32))
        | (np.uint64(pr[i]) << np.uint64(24))
        | (np.uint64(ttl[i]) << np.uint64(16))
        | (np.uint64(fl[i]) << np.uint64(8))
        | np.uint64(sl[i])
    )
    out[i, 3] = (np.uint64(ln[i]) << np.uint64(32)) | (np.uint64(sw[i]) << np.uint64(16)) | ver[i]


@njit(cache=True)
def _same(i: int, j: int, key: np.ndarray, s6: np.ndarray, d6: np.ndarray, v6: bool) -> bool:
    for w in range(4):
        if key[i, w] != key[j, w]:
            return False
    if v6:
        for b in range(16):
            if s6[i, b] != s6[j, b] or d6[i, b] != d6[j, b]:
                return False
    return True


@njit(cache=True)
def _group(
    keep: np.ndarray,
    time: np.ndarray,
    ver: np.ndarray,
    c: tuple,
    s6: np.ndarray,
    d6: np.ndarray,
    fp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(index of each group's first packet, per-group [packets, 5 fingerprint counters])."""
    n = len(keep)
    size = 1024
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)
    key = np.empty((n, 4), dtype=np.uint64)
    first = np.empty(n, dtype=np.int64)
    counts = np.zeros((n, 6), dtype=np.uint32)
    g = 0
    for i in range(n):
        if not keep[i]:
            continue
        _pack(time, ver, c, i, key)
        h = np.uint64(1469598103934665603)
        for w in range(4):
            h = _mix(h, key[i, w])
        v6 = ver[i] == 6
        if v6:
            for b in range(16):
                h = _mix(h, np.uint64(s6[i, b]) | (np.uint64(d6[i, b]) << np.uint64(8)))
        slot = h & mask
        while True:
            gid = table[slot]
            if gid < 0:
                table[slot] = g
                first[g] = i
                gid = g
                g += 1
                break
            if _same(i, first[gid], key, s6, d6, v6):
                break
            slot = (slot + np.uint64(1)) & mask
        counts[gid, 0] += 1
        f = fp[i]
        for bit in range(5):
            if f & (1 << bit):
                counts[gid, bit + 1] += 1
    return first[:g], counts[:g]


def _ip6_column(raw: np.ndarray, rows: np.ndarray, is6: np.ndarray) -> pa.Array:
    if not is6.any():
        return pa.nulls(len(rows), pa.binary(16))
    data = np.where(is6[:, None], raw[rows], 0).astype(np.uint8)
    valid = pa.py_buffer(np.packbits(is6, bitorder="little"))
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(rows), [valid, pa.py_buffer(data.tobytes())]
    )


def aggregate(chunk: PacketChunk, keep: np.ndarray, interval: int) -> pa.Table:
    """Flow tuples of the kept packets of ``chunk`` per ``interval`` seconds (FLOW_TUPLE schema)."""
    ver = chunk.ip_version
    time = (chunk.ts // (interval * 1_000_000_000)) * interval
    keys = tuple(chunk.columns[c] for c in _KEY_COLUMNS)
    rows, counts = _group(
        np.ascontiguousarray(keep & (ver != 0)),
        time,
        ver,
        keys,
        chunk.src_ip6,
        chunk.dst_ip6,
        chunk.fingerprints,
    )
    is6 = ver[rows] == 6
    columns: dict[str, pa.Array] = {"time": pa.array(time[rows])}
    for name in _KEY_COLUMNS:
        columns[name] = pa.array(chunk.columns[name][rows])
    columns["packet_cnt"] = pa.array(counts[:, 0])
    for k, name in enumerate(_COUNTERS):
        columns[name] = pa.array(counts[:, k + 1])
    columns["src_ip6"] = _ip6_column(chunk.src_ip6, rows, is6)
    columns["dst_ip6"] = _ip6_column(chunk.dst_ip6, rows, is6)
    return pa.Table.from_pydict({f.name: columns[f.name] for f in FLOW_SCHEMA}, schema=FLOW_SCHEMA)
