# mypy: disable-error-code="assignment,arg-type"
# (numba types these kernels; mypy cannot tell np.int64 from int here)
"""Aggregate decoded packets into corsaro-style flow tuples (one row per interval and key).

Grouping is numba over the packet columns, no Python object per packet: packets are packed
into 32-byte keys, radix-sorted into storage order (hour, source, destination), and each run
of equal (hour, source, destination) is grouped on its own; fingerprint bits are counted per
row. Rows come out in storage order, so the writer only slices them into hour files.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pyarrow as pa
from numba import njit

from iotnotice.capture.reader import PacketChunk
from iotnotice.schemas import FLOW_KEY, FLOW_TUPLE, arrow_schema

__all__ = ["FLOW_SCHEMA", "aggregate", "hour_cuts"]

FLOW_SCHEMA = arrow_schema(FLOW_TUPLE)
# Fingerprint bit -> counter column, in FLOW_TUPLE order.
_COUNTERS = ("mirai_cnt", "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt")
# Packet columns copied to the flow row from the group's first packet: the flow key.
_KEY_COLUMNS = FLOW_KEY


@njit(cache=True, inline="always")
def _pack(ts: np.ndarray, interval: int, ver: np.ndarray, c: tuple, i: int) -> tuple:
    """Packet ``i``'s flow key as four 64-bit words (the first: its interval's start)."""
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
    time = (ts[i] // (interval * 1_000_000_000)) * interval
    return np.uint64(time), k1, k2, k3


@njit(cache=True, inline="always")
def _same6(i: int, j: int, s6: np.ndarray, d6: np.ndarray) -> bool:
    for b in range(16):  # noqa: SIM110 (numba compiles loops, not generator expressions)
        if s6[i, b] != s6[j, b] or d6[i, b] != d6[j, b]:
            return False
    return True


@njit(cache=True, nogil=True)
def _packed(
    keep: np.ndarray,
    ts: np.ndarray,
    interval: int,
    ver: np.ndarray,
    c: tuple,
    fp: np.ndarray,
    rows: np.ndarray,
    index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Kept packets as rows [time, src|dst, ports..., len|win|fingerprints|version], indexes
    (written into ``rows`` and ``index``, which have a row per packet; the kept ones returned)."""
    j = 0
    for i in range(len(keep)):
        if keep[i]:
            k0, k1, k2, k3 = _pack(ts, interval, ver, c, i)
            rows[j, 0] = k0
            rows[j, 1] = k1
            rows[j, 2] = k2
            # Bits 8-15 of the last word are free: the fingerprints ride along (not key).
            rows[j, 3] = k3 | (np.uint64(fp[i]) << np.uint64(8))
            index[j] = i
            j += 1
    return rows[:j], index[:j]


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


@njit(cache=True, inline="always")
def _bit_length(x: int) -> int:
    b = 0
    while x > 0:
        x >>= 1
        b += 1
    return b


@njit(cache=True, nogil=True)
def _word_order(
    rows: np.ndarray,
    index: np.ndarray,
    work: tuple,
    lo: int,
    hbits: int,
    sbits: int,
    dbits: int,
    ibits: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Storage order when (hour, source, destination) and the row number fit one 64-bit word.

    Only the key bits that vary are kept (above them every row agrees, so they cannot
    order anything): the hour past the chunk's first, the low ``sbits`` of the source and
    ``dbits`` of the destination, with the row number below them. The words are unique, so
    an LSD radix sort of their key bits is the stable sort; it moves 8 bytes per row and
    pass instead of a 32-byte row and its index, and its digits are at most 14 bits (16K
    buckets: the scatter stays in cache). The rows are gathered once, at the end.
    """
    n = len(index)
    out_rows, out_index, words, other, _digit = work
    kbits = hbits + sbits + dbits
    smask = (np.uint64(1) << np.uint64(sbits)) - np.uint64(1)
    dmask = (np.uint64(1) << np.uint64(dbits)) - np.uint64(1)
    for k in range(n):
        a = rows[k, 1]
        key = np.uint64(np.int64(rows[k, 0]) // 3600 - lo)
        key = (key << np.uint64(sbits)) | ((a >> np.uint64(32)) & smask)
        key = (key << np.uint64(dbits)) | (a & dmask)
        words[k] = (key << np.uint64(ibits)) | np.uint64(k)
    passes = (kbits + 13) // 14
    if passes > 0:
        width = (kbits + passes - 1) // passes
        size = 1 << width
        dmask_ = np.uint64(size - 1)
        counts = np.zeros((passes, size + 1), dtype=np.int64)
        for k in range(n):
            w = words[k] >> np.uint64(ibits)
            for p in range(passes):
                counts[p, np.int64((w >> np.uint64(p * width)) & dmask_) + 1] += 1
        for p in range(passes):
            c = counts[p]
            if c.max() == n:  # one value: this digit cannot reorder anything
                continue
            for d in range(size):
                c[d + 1] += c[d]
            shift = np.uint64(ibits + p * width)
            for k in range(n):
                w = words[k]
                d = np.int64((w >> shift) & dmask_)
                j = c[d]
                c[d] = j + 1
                other[j] = w
            words, other = other, words
    imask = (np.uint64(1) << np.uint64(ibits)) - np.uint64(1)
    for j in range(n):
        k = np.int64(words[j] & imask)
        out_rows[j, 0] = rows[k, 0]
        out_rows[j, 1] = rows[k, 1]
        out_rows[j, 2] = rows[k, 2]
        out_rows[j, 3] = rows[k, 3]
        out_index[j] = index[k]
    return out_rows, out_index


@njit(cache=True, nogil=True)
def _storage_order(
    rows: np.ndarray, index: np.ndarray, work: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Packed rows sorted by hour, then source, then destination (stable: ties keep capture order).

    The order compresses and prunes well, and the writer cuts hour partitions as slices of it.
    Usually (a darknet's destinations, a chunk of an hour or two) the varying key bits and the
    row number fit a 64-bit word: ``_word_order``. Otherwise a stable LSD radix sort of the
    rows on 16-bit digits, skipping digits that are equal on every row. ``work`` holds the
    other buffers (rows, index, two word arrays, digits; at least ``len(index)`` long); the
    arguments may serve as one of the buffers and be overwritten.
    """
    n = len(index)
    if n == 0:
        return rows, index
    lo = np.int64(rows[0, 0]) // 3600
    hi = lo
    s_and = rows[0, 1] >> np.uint64(32)
    s_or = s_and
    d_and = rows[0, 1] & np.uint64(0xFFFFFFFF)
    d_or = d_and
    for k in range(n):
        h = np.int64(rows[k, 0]) // 3600
        lo = min(lo, h)
        hi = max(hi, h)
        a = rows[k, 1]
        s_and &= a >> np.uint64(32)
        s_or |= a >> np.uint64(32)
        d_and &= a & np.uint64(0xFFFFFFFF)
        d_or |= a & np.uint64(0xFFFFFFFF)
    hbits = _bit_length(hi - lo)
    sbits = _bit_length(np.int64(s_or ^ s_and))
    dbits = _bit_length(np.int64(d_or ^ d_and))
    ibits = _bit_length(n - 1)
    if hbits + sbits + dbits + ibits <= 64:
        return _word_order(rows, index, work, lo, hbits, sbits, dbits, ibits)
    # Two buffers, swapped after each pass that moved rows.
    other_rows, other_index, _words, _other, digit = work
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
def _group(
    rows: np.ndarray,
    index: np.ndarray,
    s6: np.ndarray,
    d6: np.ndarray,
    first: np.ndarray,
    counts: np.ndarray,
) -> tuple:
    """Flow rows of packed packets in storage order: (first row of each group, counters).

    Packets of one flow share hour, source and destination, so after the sort they sit in one
    run; each run is grouped on its own (pairwise when short, with a small hash table when
    long), which keeps every lookup in cache. Counters are [packets, 5 fingerprint bits],
    written into ``counts`` (6 rows of at least ``len(index)``; zeroed here per group).
    """
    n = len(index)
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
                    for b in range(6):
                        counts[b, g] = 0
                    g += 1
                counts[0, gid] += 1
                f = (rows[r, 3] >> np.uint64(8)) & np.uint64(0x1F)
                if f:
                    for bit in range(5):
                        if f & np.uint64(1 << bit):
                            counts[bit + 1, gid] += 1
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
                        for b in range(6):
                            counts[b, g] = 0
                        gid = g
                        g += 1
                        break
                    if _same_key(rows, first[gid], r, index, s6, d6):
                        break
                    slot = (slot + 1) & (size - 1)
                counts[0, gid] += 1
                f = (rows[r, 3] >> np.uint64(8)) & np.uint64(0x1F)
                if f:
                    for bit in range(5):
                        if f & np.uint64(1 << bit):
                            counts[bit + 1, gid] += 1
        k = e
    return first[:g], counts[:, :g]


@njit(cache=True, nogil=True)
def _unpack(rows: np.ndarray, first: np.ndarray, out: tuple) -> tuple:
    """Flow-row columns from the packed rows of each group's first packet (as ``_pack`` packs),
    written into ``out`` (time and the ten key columns, each at least ``len(first)`` long)."""
    n = len(first)
    o_time, o_src, o_dst, o_sp, o_dp, o_pr, o_ttl, o_fl, o_ln, o_sl, o_sw = out
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
    keys = (o_src[:n], o_dst[:n], o_sp[:n], o_dp[:n], o_pr[:n], o_ttl[:n], o_fl[:n])
    keys2 = (o_ln[:n], o_sl[:n], o_sw[:n])
    return o_time[:n], keys + keys2, v6


@njit(cache=True, nogil=True)
def hour_cuts(time: np.ndarray) -> tuple[bool, np.ndarray]:
    """(whether ``time``'s hours never decrease, the row numbers where a new hour starts).

    One pass and no temporaries the size of the table (the writer cuts every chunk into hours).
    """
    n = len(time)
    cuts = np.empty(min(n, 64), dtype=np.int64)
    m = 0
    ordered = True
    if n == 0:
        return ordered, cuts[:0]
    prev = time[0] // 3600
    for k in range(1, n):
        h = time[k] // 3600
        if h != prev:
            if h < prev:
                ordered = False
            if m == len(cuts):
                grown = np.empty(2 * m, dtype=np.int64)
                grown[:m] = cuts
                cuts = grown
            cuts[m] = k
            m += 1
            prev = h
    return ordered, cuts[:m]


_NULL_IP6: list[pa.Array] = [pa.nulls(0, pa.binary(16))]


def _null_ip6(n: int) -> pa.Array:
    """``n`` null 16-byte addresses: a slice of one shared all-null array.

    Arrow materialises a null fixed-size column as zeroed data (16 bytes a row) and validity;
    building two per chunk cost ~20 ms of memset and page faults per million rows.
    """
    if len(_NULL_IP6[0]) < n:
        _NULL_IP6[0] = pa.nulls(max(n, 2 * len(_NULL_IP6[0])), pa.binary(16))
    return _NULL_IP6[0].slice(0, n)


def _ip6_column(raw: np.ndarray, rows: np.ndarray, is6: np.ndarray) -> pa.Array:
    if not is6.any():
        return _null_ip6(len(rows))
    data = np.zeros((len(rows), 16), dtype=np.uint8)
    data[is6] = raw[rows[is6]]
    valid = pa.py_buffer(np.packbits(is6, bitorder="little"))
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(rows), [valid, pa.py_buffer(data)]
    )


class _Workspace(threading.local):
    """Each thread's scratch arrays for ``aggregate``, kept from one chunk to the next.

    Allocating them per chunk (~110 MB per million packets) cost more in page faults (the
    kernel mapping and zeroing fresh pages) than the sort itself. Nothing returned from
    ``aggregate`` points into them.
    """

    def __init__(self) -> None:
        self.size = -1
        self.arrays: tuple[np.ndarray, ...] = ()

    def get(self, n: int) -> tuple[np.ndarray, ...]:
        """(rows, index, other rows, other index, words, other words, digits, first), n long."""
        if n > self.size:
            self.size = n
            rows = (np.empty((n, 4), np.uint64), np.empty(n, np.int64))
            other = (np.empty((n, 4), np.uint64), np.empty(n, np.int64))
            words = (np.empty(n, np.uint64), np.empty(n, np.uint64))
            self.arrays = (*rows, *other, *words, np.empty(n, np.int64), np.empty(n, np.int64))
        return tuple(a[:n] for a in self.arrays)


_WORKSPACE = _Workspace()

# dtypes of the columns aggregate() builds in numba: time, the key columns, then the counters.
_OUT_DTYPES = (np.int64, np.uint32, np.uint32, np.uint16, np.uint16, np.uint8, np.uint8)
_OUT_DTYPES += (np.uint8, np.uint16, np.uint8, np.uint16)


def _references(arrays: tuple[np.ndarray, ...]) -> list[int]:
    return [sys.getrefcount(a) for a in arrays]


class _OutputPool:
    """Output columns for ``aggregate``, handed out again once no table uses them.

    The flow tables are zero-copy views of these arrays (pyarrow keeps a reference to each
    numpy array it wraps). An ingest drops a chunk's table once it is written, and fresh
    columns for the next chunk (~50 MB per million rows) cost the kernel page faults and
    zeroing every time. A set is reused only when nothing but the pool refers to its arrays
    (their reference counts are back to what they were when the pool made them), so a table
    someone keeps never sees its data change.
    """

    def __init__(self, sets: int = 4) -> None:
        self.lock = threading.Lock()
        self.sets = sets
        self.pool: list[tuple[int, tuple[np.ndarray, ...], list[int]]] = []

    def take(self, n: int) -> tuple[np.ndarray, ...]:
        """Views of 11 columns (``n`` long) and of a (6, n or more) counter array.

        The views are made under the lock: from then on they count as uses of the set.
        """
        with self.lock:
            arrays = None
            for size, pooled, idle in self.pool:
                if size >= n and _references(pooled) == idle:
                    arrays = pooled
                    break
            if arrays is None:
                arrays = (
                    *(np.empty(n, dtype) for dtype in _OUT_DTYPES),
                    np.empty((6, n), np.uint32),
                )
                if len(self.pool) < self.sets:
                    self.pool.append((n, arrays, _references(arrays)))
            return (*(a[:n] for a in arrays[:-1]), arrays[-1][:])


_OUTPUT = _OutputPool()


def aggregate(chunk: PacketChunk, keep: np.ndarray, interval: int) -> pa.Table:
    """Flow tuples of the kept packets of ``chunk`` per ``interval`` seconds (FLOW_TUPLE schema)."""
    ver = chunk.ip_version
    keys = tuple(chunk.columns[c] for c in _KEY_COLUMNS)
    rows_buf, index_buf, *work, first_buf = _WORKSPACE.get(len(chunk))
    packed, index = _packed(
        np.ascontiguousarray(keep & (ver != 0)),
        chunk.ts,
        interval,
        ver,
        keys,
        chunk.fingerprints,
        rows_buf,
        index_buf,
    )
    packed, index = _storage_order(packed, index, tuple(a[: len(index)] for a in work))
    *out, counts_buf = _OUTPUT.take(len(chunk))
    first, counts = _group(packed, index, chunk.src_ip6, chunk.dst_ip6, first_buf, counts_buf)
    row_time, row_keys, is6 = _unpack(packed, first, tuple(out))
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
