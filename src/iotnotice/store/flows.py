# mypy: disable-error-code="assignment,arg-type"
# (numba types these kernels; mypy cannot tell np.int64 from int here)
"""Aggregate decoded packets into corsaro-style flow tuples (one row per interval and key).

Grouping is numba over the packet columns, no Python object per packet: packets are packed
into 32-byte keys, radix-sorted into storage order (hour, source, destination), and each run
of equal (hour, source, destination) is grouped on its own; fingerprint bits are counted per
row. Rows come out in storage order, so the writer only slices them into hour files.
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
def _packed(
    keep: np.ndarray, time: np.ndarray, ver: np.ndarray, c: tuple, fp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kept packets as rows [time, src|dst, ports..., len|win|fingerprints|version], indexes."""
    m = 0
    for i in range(len(keep)):
        m += keep[i]
    rows = np.empty((m, 4), dtype=np.uint64)
    index = np.empty(m, dtype=np.int64)
    j = 0
    for i in range(len(keep)):
        if keep[i]:
            k0, k1, k2, k3 = _pack(time, ver, c, i)
            rows[j, 0] = k0
            rows[j, 1] = k1
            rows[j, 2] = k2
            # Bits 8-15 of the last word are free: the fingerprints ride along (not key).
            rows[j, 3] = k3 | (np.uint64(fp[i]) << np.uint64(8))
            index[j] = i
            j += 1
    return rows, index


@njit(cache=True, nogil=True)
def _radix_pass(
    rows: np.ndarray,
    index: np.ndarray,
    out_rows: np.ndarray,
    out_index: np.ndarray,
    digit: np.ndarray,
    shift: int,
    base: int,
) -> bool:
    """One stable counting-sort pass on a 16-bit digit of the address word (``shift`` >= 0)
    or of the hour (``shift`` < 0, counted from hour ``base``) into ``out_*``; False (nothing
    written) when the digit is the same on every row."""
    n = len(index)
    counts = np.zeros(65537, dtype=np.int64)
    for k in range(n):
        if shift < 0:
            d = np.int64(rows[k, 0]) // 3600 - base
        else:
            d = np.int64((rows[k, 1] >> np.uint64(shift)) & np.uint64(0xFFFF))
        digit[k] = d
        counts[d + 1] += 1
    if counts.max() == n:  # one value: this digit cannot reorder anything
        return False
    for d in range(65536):
        counts[d + 1] += counts[d]
    for k in range(n):
        j = counts[digit[k]]
        counts[digit[k]] = j + 1
        out_rows[j, 0] = rows[k, 0]
        out_rows[j, 1] = rows[k, 1]
        out_rows[j, 2] = rows[k, 2]
        out_rows[j, 3] = rows[k, 3]
        out_index[j] = index[k]
    return True


@njit(cache=True, nogil=True)
def _storage_order(rows: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed rows sorted by hour, then source, then destination (stable: ties keep capture order).

    The order compresses and prunes well, and the writer cuts hour partitions as slices of it.
    A stable LSD radix sort on 16-bit digits, skipping digits that are equal on every row (the
    upper half of a darknet's destinations, the hour of most chunks): a few linear passes.
    The arguments serve as one of the two buffers and are overwritten.
    """
    n = len(index)
    if n == 0:
        return rows, index
    lo = np.int64(rows[0, 0]) // 3600
    hi = lo
    for k in range(n):
        h = np.int64(rows[k, 0]) // 3600
        lo = min(lo, h)
        hi = max(hi, h)
    digit = np.empty(n, dtype=np.int64)
    # Two buffers, swapped after each pass that moved rows.
    other_rows = np.empty_like(rows)
    other_index = np.empty_like(index)
    for shift in (0, 16, 32, 48, -1):
        if shift < 0 and hi - lo >= 65536:
            break
        if _radix_pass(rows, index, other_rows, other_index, digit, shift, lo):
            rows, other_rows = other_rows, rows
            index, other_index = other_index, index
    if hi - lo < 65536:
        return rows, index
    # Hours more than 7 years apart in one chunk: a plain stable sort by hour finishes it.
    hours = np.empty(n, dtype=np.int64)
    for k in range(n):
        hours[k] = np.int64(rows[k, 0]) // 3600
    order = np.argsort(hours, kind="mergesort")
    return rows[order], index[order]


@njit(cache=True, inline="always")
def _same_key(
    rows: np.ndarray, a: int, b: int, index: np.ndarray, s6: np.ndarray, d6: np.ndarray
) -> bool:
    """Rows ``a`` and ``b`` (same hour and addresses) have the same flow key."""
    if rows[a, 0] != rows[b, 0] or rows[a, 2] != rows[b, 2]:
        return False
    if (rows[a, 3] ^ rows[b, 3]) & ~np.uint64(0xFF00):  # fingerprint bits are not key
        return False
    if (rows[a, 3] & np.uint64(0xFF)) == np.uint64(6):
        return _same6(index[a], index[b], s6, d6)
    return True


@njit(cache=True, nogil=True)
def _group(rows: np.ndarray, index: np.ndarray, s6: np.ndarray, d6: np.ndarray) -> tuple:
    """Flow rows of packed packets in storage order: (first row of each group, counters).

    Packets of one flow share hour, source and destination, so after the sort they sit in one
    run; each run is grouped on its own (pairwise when short, with a small hash table when
    long), which keeps every lookup in cache. Counters are [packets, 5 fingerprint bits].
    """
    n = len(index)
    first = np.empty(n, dtype=np.int64)
    counts = np.zeros((6, n), dtype=np.uint32)
    g = 0
    k = 0
    while k < n:
        hour = np.int64(rows[k, 0]) // 3600
        e = k + 1
        while e < n and rows[e, 1] == rows[k, 1] and np.int64(rows[e, 0]) // 3600 == hour:
            e += 1
        start = g
        if e - k <= 16:
            for r in range(k, e):
                gid = start
                while gid < g and not _same_key(rows, first[gid], r, index, s6, d6):
                    gid += 1
                if gid == g:
                    first[g] = r
                    g += 1
                _count(counts, gid, rows[r, 3])
        else:
            size = 64
            while size < 2 * (e - k):
                size *= 2
            table = np.full(size, -1, dtype=np.int64)
            for r in range(k, e):
                h = (
                    rows[r, 0] * np.uint64(0x9E3779B97F4A7C15)
                    ^ rows[r, 2] * np.uint64(0xC2B2AE3D27D4EB4F)
                    ^ (rows[r, 3] & ~np.uint64(0xFF00))
                )
                h ^= h >> np.uint64(33)
                h *= np.uint64(0xFF51AFD7ED558CCD)
                h ^= h >> np.uint64(33)
                slot = np.int64(h & np.uint64(size - 1))
                while True:
                    gid = table[slot]
                    if gid < 0:
                        table[slot] = g
                        first[g] = r
                        gid = g
                        g += 1
                        break
                    if _same_key(rows, first[gid], r, index, s6, d6):
                        break
                    slot = (slot + 1) & (size - 1)
                _count(counts, gid, rows[r, 3])
        k = e
    return first[:g], counts[:, :g]


@njit(cache=True, inline="always")
def _count(counts: np.ndarray, gid: int, word: np.uint64) -> None:
    counts[0, gid] += 1
    f = (word >> np.uint64(8)) & np.uint64(0xFF)
    if f:
        for bit in range(5):
            if f & np.uint64(1 << bit):
                counts[bit + 1, gid] += 1


@njit(cache=True, nogil=True)
def _unpack(rows: np.ndarray, first: np.ndarray) -> tuple:
    """Flow-row columns from the packed rows of each group's first packet (as ``_pack`` packs)."""
    n = len(first)
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
    v6 = np.zeros(n, dtype=np.bool_)
    m8 = np.uint64(0xFF)
    m16 = np.uint64(0xFFFF)
    for k in range(n):
        r = first[k]
        o_time[k] = np.int64(rows[r, 0])
        k1 = rows[r, 1]
        k2 = rows[r, 2]
        k3 = rows[r, 3]
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
        v6[k] = (k3 & m8) == np.uint64(6)
    keys = (o_src, o_dst, o_sp, o_dp, o_pr, o_ttl, o_fl, o_ln, o_sl, o_sw)
    return o_time, keys, v6


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
    packed, index = _packed(
        np.ascontiguousarray(keep & (ver != 0)), time, ver, keys, chunk.fingerprints
    )
    packed, index = _storage_order(packed, index)
    first, counts = _group(packed, index, chunk.src_ip6, chunk.dst_ip6)
    row_time, row_keys, is6 = _unpack(packed, first)
    # Packet index of each row: only IPv6 rows need it, for their addresses.
    rows = index[first] if is6.any() else first
    columns: dict[str, pa.Array] = {"time": pa.array(row_time)}
    for name, values in zip(_KEY_COLUMNS, row_keys, strict=True):
        columns[name] = pa.array(values)
    columns["packet_cnt"] = pa.array(counts[0])
    for k, name in enumerate(_COUNTERS):
        columns[name] = pa.array(counts[k + 1])
    columns["src_ip6"] = _ip6_column(chunk.src_ip6, rows, is6)
    columns["dst_ip6"] = _ip6_column(chunk.dst_ip6, rows, is6)
    return pa.Table.from_pydict({f.name: columns[f.name] for f in FLOW_SCHEMA}, schema=FLOW_SCHEMA)
