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


@njit(cache=True, nogil=True)
def _group(
    keep: np.ndarray,
    time: np.ndarray,
    ver: np.ndarray,
    c: tuple,
    s6: np.ndarray,
    d6: np.ndarray,
    fp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of each group's first packet, its packed key, [packets, 5 fingerprint counters]).

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
    return first[:g], gkey[:g], counts[:g]


@njit(cache=True, nogil=True)
def _radix_pass(
    digit: np.ndarray, keys: np.ndarray, hours: np.ndarray, idx: np.ndarray, shift: int, hour: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stable counting-sort pass on a 16-bit digit; unchanged when every digit is equal."""
    n = len(idx)
    counts = np.zeros(65537, dtype=np.int64)
    for k in range(n):
        # Both branches int64: numba would unify uint64 with int64 to float.
        d = hours[k] if hour else np.int64((keys[k] >> np.uint64(shift)) & np.uint64(0xFFFF))
        digit[k] = d
        counts[d + 1] += 1
    if counts.max() == n:  # one value: this digit cannot reorder anything
        return keys, hours, idx
    for d in range(65536):
        counts[d + 1] += counts[d]
    out_keys = np.empty_like(keys)
    out_hours = np.empty_like(hours)
    out_idx = np.empty_like(idx)
    for k in range(n):
        d = digit[k]
        j = counts[d]
        counts[d] = j + 1
        out_keys[j] = keys[k]
        out_hours[j] = hours[k]
        out_idx[j] = idx[k]
    return out_keys, out_hours, out_idx


@njit(cache=True, nogil=True)
def _storage_order(time: np.ndarray, address: np.ndarray) -> np.ndarray:
    """Row order by hour, then source, then destination: long runs that compress and prune well.

    The writer cuts hour partitions as slices of this order. A stable LSD radix sort on 16-bit
    digits (destination, source, hour), skipping digits that are the same on every row (the
    upper half of a darknet's destinations, the hour of most chunks): a few linear passes.
    Rows with equal (hour, source, destination) keep their first-seen order. ``address`` is
    source << 32 | destination.
    """
    n = len(time)
    idx = np.arange(n).astype(np.int64)
    if n == 0:
        return idx
    keys = np.empty(n, dtype=np.uint64)
    hours = np.empty(n, dtype=np.int64)
    lo = time[0] // 3600
    hi = lo
    for k in range(n):
        keys[k] = address[k]
        h = time[k] // 3600
        hours[k] = h
        lo = min(lo, h)
        hi = max(hi, h)
    digit = np.empty(n, dtype=np.int64)
    for shift in (0, 16, 32, 48):
        keys, hours, idx = _radix_pass(digit, keys, hours, idx, shift, False)
    if hi - lo < 65536:
        hours -= lo
        keys, hours, idx = _radix_pass(digit, keys, hours, idx, 0, True)
        return idx
    # Hours more than 7 years apart in one chunk: a plain stable sort by hour finishes it.
    return idx[np.argsort(hours, kind="mergesort")]


@njit(cache=True, nogil=True)
def _gather(order: np.ndarray, gkey: np.ndarray, counts: np.ndarray) -> tuple:
    """Flow-row columns in ``order``, unpacked from the groups' keys (as ``_pack`` packed them).

    Reading the packed 32-byte key, not ten packet columns, costs one cache line per row.
    """
    n = len(order)
    o_time = np.empty(n, dtype=np.int64)
    o_src = np.empty(n, dtype=np.uint32)
    o_dst = np.empty(n, dtype=np.uint32)
    o_sp = np.empty(n, dtype=np.uint16)
    o_dp = np.empty(n, dtype=np.uint16)
    o_pr = np.empty(n, dtype=np.uint8)
    o_ttl = np.empty(n, dtype=np.uint8)
    o_fl = np.empty(n, dtype=np.uint8)
    o_ln = np.empty(n, dtype=np.uint16)
    o_sl = np.empty(n, dtype=np.uint8)
    o_sw = np.empty(n, dtype=np.uint16)
    o_cnt = np.empty((6, n), dtype=np.uint32)
    v6 = np.zeros(n, dtype=np.bool_)
    m8 = np.uint64(0xFF)
    m16 = np.uint64(0xFFFF)
    for k in range(n):
        g = order[k]
        o_time[k] = np.int64(gkey[g, 0])
        k1 = gkey[g, 1]
        k2 = gkey[g, 2]
        k3 = gkey[g, 3]
        o_src[k] = np.uint32(k1 >> np.uint64(32))
        o_dst[k] = np.uint32(k1 & np.uint64(0xFFFFFFFF))
        o_sp[k] = np.uint16(k2 >> np.uint64(48))
        o_dp[k] = np.uint16((k2 >> np.uint64(32)) & m16)
        o_pr[k] = np.uint8((k2 >> np.uint64(24)) & m8)
        o_ttl[k] = np.uint8((k2 >> np.uint64(16)) & m8)
        o_fl[k] = np.uint8((k2 >> np.uint64(8)) & m8)
        o_sl[k] = np.uint8(k2 & m8)
        o_ln[k] = np.uint16(k3 >> np.uint64(32))
        o_sw[k] = np.uint16((k3 >> np.uint64(16)) & m16)
        v6[k] = (k3 & m16) == np.uint64(6)
        for j in range(6):
            o_cnt[j, k] = counts[g, j]
    keys = (o_src, o_dst, o_sp, o_dp, o_pr, o_ttl, o_fl, o_ln, o_sl, o_sw)
    return o_time, keys, o_cnt, v6


def _ip6_column(raw: np.ndarray, rows: np.ndarray, is6: np.ndarray) -> pa.Array:
    if not is6.any():
        return pa.nulls(len(rows), pa.binary(16))
    data = np.zeros((len(rows), 16), dtype=np.uint8)
    data[is6] = raw[rows[is6]]
    valid = pa.py_buffer(np.packbits(is6, bitorder="little"))
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(rows), [valid, pa.py_buffer(data)]
    )


def aggregate(chunk: PacketChunk, keep: np.ndarray, interval: int) -> pa.Table:
    """Flow tuples of the kept packets of ``chunk`` per ``interval`` seconds (FLOW_TUPLE schema)."""
    ver = chunk.ip_version
    time = (chunk.ts // (interval * 1_000_000_000)) * interval
    keys = tuple(chunk.columns[c] for c in _KEY_COLUMNS)
    first, gkey, counts = _group(
        np.ascontiguousarray(keep & (ver != 0)),
        time,
        ver,
        keys,
        chunk.src_ip6,
        chunk.dst_ip6,
        chunk.fingerprints,
    )
    order = _storage_order(np.ascontiguousarray(gkey[:, 0]).view(np.int64), gkey[:, 1].copy())
    row_time, row_keys, row_counts, is6 = _gather(order, gkey, counts)
    # Packet index of each row: only IPv6 rows need it, for their addresses.
    rows = first[order] if is6.any() else order
    columns: dict[str, pa.Array] = {"time": pa.array(row_time)}
    for name, values in zip(_KEY_COLUMNS, row_keys, strict=True):
        columns[name] = pa.array(values)
    columns["packet_cnt"] = pa.array(row_counts[0])
    for k, name in enumerate(_COUNTERS):
        columns[name] = pa.array(row_counts[k + 1])
    columns["src_ip6"] = _ip6_column(chunk.src_ip6, rows, is6)
    columns["dst_ip6"] = _ip6_column(chunk.dst_ip6, rows, is6)
    return pa.Table.from_pydict({f.name: columns[f.name] for f in FLOW_SCHEMA}, schema=FLOW_SCHEMA)
