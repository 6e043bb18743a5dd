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


# Hash-table slots: small enough to stay in cache, large enough for a busy interval.
_TABLE_SLOTS = 1 << 21


@njit(cache=True, inline="always")
def _pack(time: np.ndarray, ver: np.ndarray, c: tuple, i: int) -> tuple:
    """Packet ``i``'s flow key as four 64-bit words."""
    src, dst, sp, dp, pr, ttl, fl, ln, sl, sw = c
    k1 = (np.uint64(src[i]) << np.uint64(32)) | np.uint64(dst[i])
    k2 = (
        (np.uint64(sp[i]) << np.uint64(48))
        | (np.uint64(dp[i]) << np.uint64(32))
        | (np.uint64(pr[i]) << np.uint64(24))
        | (np.uint64(ttl[i]) << np.uint64(16))
        | (np.uint64(fl[i]) << np.uint64(8))
        | np.uint64(sl[i])
    )
    k3 = (np.uint64(ln[i]) << np.uint64(32)) | (np.uint64(sw[i]) << np.uint64(16)) | ver[i]
    return np.uint64(time[i]), k1, k2, k3


@njit(cache=True, inline="always")
def _same6(i: int, j: int, s6: np.ndarray, d6: np.ndarray) -> bool:
    for b in range(16):  # noqa: SIM110 (numba compiles loops, not generator expressions)
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
    """(index of each group's first packet, per-group [packets, 5 fingerprint counters]).

    The table is bounded (it stays mostly in cache); when half full, it starts afresh: a slot
    whose group id predates the current segment counts as empty. Keys seen again after that
    open a second row, which keeps counts exact and at worst adds rows.
    """
    n = len(keep)
    size = 1024
    while size < 2 * n and size < _TABLE_SLOTS:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)
    gkey = np.empty((n, 4), dtype=np.uint64)
    first = np.empty(n, dtype=np.int64)
    counts = np.zeros((n, 6), dtype=np.uint32)
    g = 0
    seg = 0
    for i in range(n):
        if not keep[i]:
            continue
        k0, k1, k2, k3 = _pack(time, ver, c, i)
        if g - seg >= size // 2:
            seg = g
        h = (
            (k1 * np.uint64(0x9E3779B97F4A7C15))
            ^ (k2 * np.uint64(0xC2B2AE3D27D4EB4F))
            ^ (k0 * np.uint64(0x165667B19E3779F9))
            ^ k3
        )
        v6 = ver[i] == 6
        if v6:
            for b in range(16):
                h = (h ^ (np.uint64(s6[i, b]) | (np.uint64(d6[i, b]) << np.uint64(8)))) * np.uint64(
                    0x100000001B3
                )
        # murmur3's finaliser: spreads the combined bits into the low bits the mask keeps.
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        slot = h & mask
        while True:
            gid = table[slot]
            if gid < seg:
                table[slot] = g
                first[g] = i
                gkey[g, 0] = k0
                gkey[g, 1] = k1
                gkey[g, 2] = k2
                gkey[g, 3] = k3
                gid = g
                g += 1
                break
            if (
                gkey[gid, 0] == k0
                and gkey[gid, 1] == k1
                and gkey[gid, 2] == k2
                and gkey[gid, 3] == k3
                and (not v6 or _same6(i, first[gid], s6, d6))
            ):
                break
            slot = (slot + np.uint64(1)) & mask
        counts[gid, 0] += 1
        f = fp[i]
        if f:
            for bit in range(5):
                if f & (1 << bit):
                    counts[gid, bit + 1] += 1
    return first[:g], counts[:g]


def _ip6_column(raw: np.ndarray, rows: np.ndarray, is6: np.ndarray) -> pa.Array:
    if not is6.any():
        return pa.nulls(len(rows), pa.binary(16))
    data = np.zeros((len(rows), 16), dtype=np.uint8)
    data[is6] = raw[rows[is6]]
    valid = pa.py_buffer(np.packbits(is6, bitorder="little"))
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(rows), [valid, pa.py_buffer(data)]
    )


def _storage_order(time: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Row order by hour, then source, then destination: long runs that compress and prune well.

    The writer cuts hour partitions as slices of this order. One 64-bit key sort plus a radix
    sort of the (small) hour numbers costs a fraction of a multi-column lexsort.
    """
    key = (src.astype(np.uint64) << np.uint64(32)) | dst
    order = np.argsort(key)
    if len(time) == 0:
        return order
    hours = time[order] // 3600
    span = hours - hours.min()
    if span.max() < 2**16:
        return order[np.argsort(span.astype(np.uint16), kind="stable")]
    return order[np.argsort(hours, kind="stable")]


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
    order = _storage_order(time[rows], chunk.src_ip[rows], chunk.dst_ip[rows])
    rows, counts = rows[order], counts[order]
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
