# mypy: disable-error-code="no-any-return"
"""Merging detection partials into per-source features: numpy over sorted 64-bit keys.

Every partial (detect.partials) is keyed by (source, something) with values that merge by
sum, min, max or bit-or. A merge is a group-by on a 64-bit key; each partial file is written
sorted by that key, so the concatenated files are sorted runs that a stable argsort merges in
about N log(files), and ``ufunc.reduceat`` reduces each group — no hash table, no Python object
per row. DuckDB's hash aggregation of the same partials was several times slower (most groups
hold one or two rows, so it pays a new group per row; measured with benchmarks/detect.py).

Sources are integer ids: the IPv4 address itself, or for IPv6 the rank of the address among
the window's IPv6 sources (so ids sort as the addresses do). The features and their tie rules
are those documented in detect.features.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

__all__ = ["KINDS", "SPEC", "combine", "merge_features", "row_partials"]

_I64 = np.int64


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stable order sorting the uint64 ``key``, start of each group of equal keys in it).

    NumPy's stable sort of 64-bit integers is a timsort: it finds the sorted runs the partial
    files are, and merges them.
    """
    order = np.argsort(key, kind="stable")
    return order, _segments(key[order])[1]


def _pack(high: np.ndarray, low: np.ndarray, bits: int) -> np.ndarray:
    """One uint64 key ordering as (high, low), for ``low`` < 2**bits and ``high`` < 2**(64-bits)."""
    return (high.astype(np.uint64) << np.uint64(bits)) | low.astype(np.uint64)


def _sum(values: np.ndarray, order: np.ndarray | None, starts: np.ndarray) -> np.ndarray:
    """Per-group sums (int64) of ``values`` taken in ``order`` (None: as they are)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=_I64)
    ordered = values if order is None else values[order]
    return np.add.reduceat(ordered.astype(_I64, copy=False), starts)


def _reduce(
    ufunc: Any, values: np.ndarray, order: np.ndarray | None, starts: np.ndarray
) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return ufunc.reduceat(values if order is None else values[order], starts)


@njit(cache=True, nogil=True)
def _top_k(
    starts: np.ndarray, label: np.ndarray, weight: np.ndarray, k: int, positive: bool
) -> np.ndarray:
    """Per segment, the labels of the ``k`` largest weights (ties: smaller label first); -1 pads.

    Labels within a segment are ascending, so a strict '>' keeps the smaller label on ties.
    """
    m = len(starts)
    out = np.full((m, k), -1, dtype=np.int64)
    best = np.empty(k, dtype=np.int64)
    n = len(label)
    for s in range(m):
        lo = starts[s]
        hi = starts[s + 1] if s + 1 < m else n
        filled = 0
        for i in range(lo, hi):
            w = weight[i]
            if positive and w <= 0:
                continue
            # insertion into the sorted (descending) top list
            j = filled
            if j < k:
                filled += 1
            elif w <= best[k - 1]:
                continue
            else:
                j = k - 1
            while j > 0 and w > best[j - 1]:
                best[j] = best[j - 1]
                out[s, j] = out[s, j - 1]
                j -= 1
            best[j] = w
            out[s, j] = label[i]
    return out


@functools.cache
def _label_names() -> pa.Array:
    """'PORT/tcp' for labels 6 * 65536 + PORT at index PORT, 'PORT/udp' at 65536 + PORT."""
    ports = np.arange(65536).astype(str).astype(object)
    return pa.array(np.concatenate([ports + "/tcp", ports + "/udp"]), type=pa.string())


def _labels_text(top: np.ndarray) -> np.ndarray:
    """'23/tcp,2323/tcp' per row of label ids (protocol * 65536 + port; -1 = none, at the end)."""
    names = _label_names()
    text = pa.array(np.full(len(top), "", dtype=object), type=pa.string())
    for j in range(top.shape[1]):
        col = top[:, j]
        at = np.where(col // 65536 == 17, 65536, 0) + col % 65536
        name = names.take(pa.array(at, mask=col < 0, type=pa.int32()))
        joined = name if j == 0 else pc.binary_join_element_wise(text, name, ",")
        text = pc.coalesce(joined, text)  # no label here: the text so far
    return text.to_numpy(zero_copy_only=False)


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique values, start, length) of each run of equal values of the sorted ``keys``."""
    change = np.ones(len(keys), dtype=bool)
    change[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(change)
    return keys[starts], starts, np.diff(np.r_[starts, len(keys)])


def _align(sources: np.ndarray, keys: np.ndarray, values: np.ndarray, fill: int) -> np.ndarray:
    """``values`` (one per sorted unique ``keys``) placed at their sources; ``fill`` elsewhere."""
    out = np.full(len(sources), fill, dtype=_I64)
    if len(keys):
        at = np.searchsorted(sources, keys)
        out[at] = values
    return out


# Per kind: the key columns (the group) and how every other column merges.
_ADD, _MIN, _MAX, _OR = np.add, np.minimum, np.maximum, np.bitwise_or
SPEC: dict[str, tuple[tuple[str, str], dict[str, Any]]] = {
    "sig": (
        ("src", "sig"),
        {
            "n": _ADD, "r": _ADD, "t0": _MIN, "t1": _MAX, "mirai": _ADD, "masscan": _ADD,
            "zmap": _ADD, "spoofed": _ADD, "quirk": _ADD, "resp": _ADD, "iot": _ADD,
            "sp_key": _MAX, "dp_key": _MAX,
        },
    ),
    "ports": (("src", "label"), {"n": _ADD, "m": _ADD}),
    "resp": (("src", "time"), {"n": _ADD}),
    "dsts": (("src", "dst"), {"fl": _OR}),
}  # fmt: skip


@njit(cache=True, nogil=True)
def _slot(table: np.ndarray, used: np.ndarray, v: np.int64) -> np.int64:
    """The slot of ``v`` in an open-addressing table (its own, or the free one to take)."""
    mask = len(table) - 1
    slot = ((v * np.int64(-7046029254386353131)) >> 40) & mask
    while used[slot] and table[slot] != v:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True, nogil=True)
def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct ``values`` (uint64 ids that sort as the values).

    Header signatures repeat a lot (a source keeps its OS or tool), so hashing every row and
    sorting only the distinct values costs a fraction of sorting every row (np.unique).
    """
    size = 1024
    table = np.empty(size, dtype=np.int64)
    used = np.zeros(size, dtype=np.bool_)
    count = 0
    for v in values:
        slot = _slot(table, used, v)
        if used[slot]:
            continue
        used[slot] = True
        table[slot] = v
        count += 1
        if count * 2 > size:  # grow: the same values in a table twice as large
            old = table[used]
            size *= 2
            table = np.empty(size, dtype=np.int64)
            used = np.zeros(size, dtype=np.bool_)
            for w in old:
                s = _slot(table, used, w)
                used[s] = True
                table[s] = w
    distinct = np.sort(table[used])
    rank = np.empty(size, dtype=np.uint64)
    for r in range(len(distinct)):
        rank[_slot(table, used, distinct[r])] = r
    out = np.empty(len(values), dtype=np.uint64)
    for i in range(len(values)):
        out[i] = rank[_slot(table, used, values[i])]
    return out


KINDS = tuple(SPEC)


def _key(kind: str, cols: dict[str, np.ndarray]) -> np.ndarray:
    """The kind's group key as one uint64 that sorts as (source, second key column)."""
    src = cols["src"]
    if kind == "sig":
        # Signatures span 48 bits: their ranks (< 2**32 rows) pack with the source into 64.
        return _pack(src, _ranks(cols["sig"].astype(_I64, copy=False)), 32)
    if kind == "ports":
        return _pack(src, cols["label"], 21)  # protocol (6 or 17) * 65536 + port < 2**21
    return _pack(src, cols["time" if kind == "resp" else "dst"], 32)


@njit(cache=True, nogil=True)
def _run_groups(key: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Group ids of rows with equal ``key`` within each run of equal ``key >> shift`` (the
    source), and each group's first row. Flow rows are stored sorted by source, so this finds
    nearly every group in one pass over short, cache-resident runs."""
    n = len(key)
    gid = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    sh = np.uint64(shift)
    g = 0
    i = 0
    while i < n:
        e = i + 1
        while e < n and (key[e] >> sh) == (key[i] >> sh):
            e += 1
        start = g
        if e - i <= 16:
            for r in range(i, e):
                j = start
                while j < g and key[first[j]] != key[r]:
                    j += 1
                if j == g:
                    first[g] = r
                    g += 1
                gid[r] = j
        else:
            size = 64
            while size < 2 * (e - i):
                size *= 2
            table = np.full(size, -1, dtype=np.int64)
            for r in range(i, e):
                h = key[r] * np.uint64(0x9E3779B97F4A7C15)
                slot = np.int64(h >> np.uint64(40)) & (size - 1)
                while table[slot] >= 0 and key[first[table[slot]]] != key[r]:
                    slot = (slot + 1) & (size - 1)
                if table[slot] < 0:
                    table[slot] = g
                    first[g] = r
                    g += 1
                gid[r] = table[slot]
        i = e
    return gid, first[:g]


@njit(cache=True, nogil=True)
def _sum_groups(gid: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    acc = np.zeros(groups, dtype=np.int64)
    for i in range(len(gid)):
        acc[gid[i]] += values[i]
    return acc


@njit(cache=True, nogil=True)
def _fold_groups(gid: np.ndarray, values: np.ndarray, groups: int, op: int) -> np.ndarray:
    """``values`` folded per group id: op 1 min, 2 max, 3 bit-or."""
    out = np.empty(groups, dtype=values.dtype)
    seen = np.zeros(groups, dtype=np.bool_)
    for i in range(len(gid)):
        g = gid[i]
        v = values[i]
        if not seen[g]:
            out[g] = v
            seen[g] = True
        elif op == 1:
            out[g] = min(out[g], v)
        elif op == 2:
            out[g] = max(out[g], v)
        else:
            out[g] = out[g] | v
    return out


_OPS = {_ADD: 0, _MIN: 1, _MAX: 2, _OR: 3}
_SHIFT = {"sig": 32, "ports": 21, "resp": 32, "dsts": 32}


def combine(kind: str, cols: dict[str, np.ndarray], runs: bool = False) -> dict[str, np.ndarray]:
    """Rows of one partial kind merged per key, sorted by key (the partial format again).

    ``runs``: the rows come in runs of one source (flow rows as stored): group each run in a
    pass first, so only the groups are sorted.
    """
    keys, values = SPEC[kind]
    key = _key(kind, cols)
    if runs and len(key):
        gid, first = _run_groups(key, _SHIFT[kind])
        reduced = {k: cols[k][first] for k in keys}
        for name, ufunc in values.items():
            op = _OPS[ufunc]
            reduced[name] = (
                _sum_groups(gid, cols[name], len(first))
                if op == 0
                else _fold_groups(gid, cols[name], len(first), op)
            )
        cols, key = reduced, key[first]
    if len(key) and bool(np.all(key[1:] > key[:-1])):
        # Sorted distinct keys already (a day's rollup, read alone): nothing to merge.
        out = {k: cols[k] for k in keys}
        for name, ufunc in values.items():
            column = cols[name]
            out[name] = column.astype(_I64, copy=False) if ufunc is _ADD else column
        return out
    order, starts = _runs(key)
    out = {k: cols[k][order[starts]] for k in keys}  # one row per group: no full permutation
    for name, ufunc in values.items():
        column = cols[name][order]
        if ufunc is _ADD:
            column = column.astype(_I64, copy=False)
        out[name] = ufunc.reduceat(column, starts) if len(starts) else column[:0]
    return out


def row_partials(rows: dict[str, np.ndarray], iot_ports: list[int]) -> dict[str, dict]:
    """Each flow row as a partial row of every kind (``src``/``dst`` already uint64 ids)."""
    proto, flags, ttl, synlen = rows["protocol"], rows["tcp_flags"], rows["ttl"], rows["tcp_synlen"]
    sport, dport, n = rows["src_port"], rows["dst_port"], rows["packet_cnt"].astype(_I64)
    tcp = proto == 6
    is_resp = (
        (tcp & (((flags & 18) == 18) | ((flags & 4) == 4)))
        | ((proto == 1) & np.isin(sport, (0, 3, 4, 5, 11, 12)))
        | ((proto == 58) & np.isin(sport, (1, 2, 3, 4, 129)))
        | ((proto == 17) & (sport == 53))
    )
    is_iot = (
        tcp
        & ((flags & 18) == 2)
        & (synlen == 20)
        & (ttl >= 33)
        & (ttl <= 64)
        & np.isin(dport, iot_ports)
    )
    zero = np.zeros_like(n)
    sig = (
        (ttl.astype(_I64) << 40)
        | (proto.astype(_I64) << 32)
        | (flags.astype(_I64) << 24)
        | (synlen.astype(_I64) << 16)
        | rows["tcp_synwinlen"].astype(_I64)
    )
    time = rows["time"].astype(_I64)
    out: dict[str, dict] = {
        "sig": {
            "src": rows["src"], "sig": sig, "n": n, "r": np.ones_like(n), "t0": time, "t1": time,
            "mirai": rows["mirai_cnt"], "masscan": rows["masscan_cnt"], "zmap": rows["zmap_cnt"],
            "spoofed": rows["spoofed_cnt"], "quirk": rows["quirk_cnt"],
            "resp": np.where(is_resp, n, zero), "iot": np.where(is_iot, n, zero),
            "sp_key": n * 65536 + (65535 - sport.astype(_I64)),
            "dp_key": n * 65536 + (65535 - dport.astype(_I64)),
        },
    }  # fmt: skip
    port_rows = ((proto == 6) | (proto == 17)) & ~is_resp
    out["ports"] = {
        "src": rows["src"][port_rows],
        "label": proto[port_rows].astype(_I64) * 65536 + dport[port_rows],
        "n": n[port_rows],
        "m": rows["mirai_cnt"][port_rows],
    }
    out["resp"] = {"src": rows["src"][is_resp], "time": time[is_resp], "n": n[is_resp]}
    fl = (rows["mirai_cnt"] > 0).astype(np.uint8) | ((is_iot & (n > 0)).astype(np.uint8) << 1)
    out["dsts"] = {"src": rows["src"], "dst": rows["dst"], "fl": fl}
    return out


# Per-source columns of _source_sums, in its output's column order.
_SOURCE_SUMS = (
    "packets", "flow_rows", "mirai_cnt", "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt",
    "resp_pkts", "iot_syn", "syn_pkts", "syn_noopt", "synack_pkts", "rst_pkts", "icmp_err_pkts",
    "dns_resp_pkts", "tcp_pkts", "udp_pkts", "icmp_pkts", "first_seen", "last_seen",
)  # fmt: skip


@njit(cache=True, nogil=True)
def _source_sums(
    starts: np.ndarray,
    sig: np.ndarray,
    n: np.ndarray,
    r: np.ndarray,
    mirai: np.ndarray,
    masscan: np.ndarray,
    zmap: np.ndarray,
    spoofed: np.ndarray,
    quirk: np.ndarray,
    resp: np.ndarray,
    iot: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per source (its signature rows from ``starts``): the :data:`_SOURCE_SUMS` columns, the
    row of its busiest signature (first on ties) and its TTL mode (smallest on ties).

    One pass over the rows instead of a reduceat per column; the rows of a source are sorted
    by signature, whose top field is the TTL, so each TTL is one run.
    """
    sources = len(starts)
    out = np.zeros((sources, 20), dtype=np.int64)
    best = np.empty(sources, dtype=np.int64)
    mode = np.empty(sources, dtype=np.int64)
    for s in range(sources):
        a = starts[s]
        b = starts[s + 1] if s + 1 < sources else len(sig)
        o = out[s]
        lo, hi = np.int64(t0[a]), np.int64(t1[a])
        top, top_at = np.int64(-1), a
        run_ttl, run_n, mode_ttl, mode_n = np.int64(-1), np.int64(0), np.int64(0), np.int64(-1)
        for i in range(a, b):
            x = np.int64(sig[i])
            ttl, proto = (x >> 40) & 255, (x >> 32) & 255
            flags, synlen = (x >> 24) & 255, (x >> 16) & 255
            k = np.int64(n[i])
            o[0] += k
            o[1] += r[i]
            o[2] += mirai[i]
            o[3] += masscan[i]
            o[4] += zmap[i]
            o[5] += spoofed[i]
            o[6] += quirk[i]
            o[7] += resp[i]
            o[8] += iot[i]
            if proto == 6:
                o[15] += k
                if (flags & 18) == 2:
                    o[9] += k
                    if synlen == 20:
                        o[10] += k
                if (flags & 18) == 18:
                    o[11] += k
                elif (flags & 4) == 4:
                    o[12] += k
            elif proto == 17:
                o[16] += k
                o[14] += resp[i]
            elif proto == 1 or proto == 58:
                o[17] += k
                o[13] += resp[i]
            lo = min(lo, np.int64(t0[i]))
            hi = max(hi, np.int64(t1[i]))
            if k > top:
                top, top_at = k, i
            if ttl != run_ttl:
                run_ttl, run_n = ttl, np.int64(0)
            run_n += k
            if run_n > mode_n:
                mode_ttl, mode_n = ttl, run_n
        o[18], o[19] = lo, hi
        best[s], mode[s] = top_at, mode_ttl
    return out, best, mode


def merge_features(
    parts: dict[str, dict[str, np.ndarray]], threads: int = 1
) -> dict[str, np.ndarray]:
    """Per-source feature columns (sorted by source id) from partial rows of one family.

    ``src`` (and ``dst`` of ``dsts``) are uint64 ids; the other columns as :data:`SPEC` lists.
    """
    # 1. merge each kind per key
    # The kinds merge independently, in parallel (numpy's sorts and ufuncs release the GIL).
    with ThreadPoolExecutor(max(1, threads)) as pool:
        sig, ports, resp, dsts = pool.map(
            lambda k: combine(k, parts[k]), ("sig", "ports", "resp", "dsts")
        )
    g_src, g_sig = sig["src"], sig["sig"]
    t0, t1, sp_key, dp_key = sig["t0"], sig["t1"], sig["sp_key"], sig["dp_key"]

    # 2. per source from the signature groups (sorted by source, then signature: so by TTL
    # too, the signature's top field), in one pass
    sources, s_starts, _ = _segments(g_src)
    if len(sources):
        sums, best, ttl_mode = _source_sums(
            s_starts, g_sig, sig["n"], sig["r"], sig["mirai"], sig["masscan"], sig["zmap"],
            sig["spoofed"], sig["quirk"], sig["resp"], sig["iot"], t0, t1,
        )  # fmt: skip
    else:
        sums = np.zeros((0, len(_SOURCE_SUMS)), dtype=_I64)
        best = ttl_mode = np.zeros(0, dtype=_I64)
    columns = np.ascontiguousarray(sums.T)
    out: dict[str, np.ndarray] = {name: columns[i] for i, name in enumerate(_SOURCE_SUMS)}
    # Sample: the busiest signature (ties: the smallest, i.e. the first in its source's run).
    out["sample_dst_port"] = 65535 - dp_key[best] % 65536
    out["sample_src_port"] = 65535 - sp_key[best] % 65536
    out["sample_sig"] = g_sig[best]
    # TTL mode: the TTL with most packets (ties: the smallest).
    out["ttl_mode"] = ttl_mode.astype(np.int32)

    # 3. distinct destinations (with Mirai / IoT SYNs)
    keys, first, counts = _segments(dsts["src"])
    out["destinations"] = _align(sources, keys, counts, 0)
    out["mirai_dsts"] = _align(sources, keys, _sum((dsts["fl"] & 1) > 0, None, first), 0)
    out["iot_dsts"] = _align(sources, keys, _sum((dsts["fl"] & 2) > 0, None, first), 0)

    # 4. ports: distinct, top 5 by packets, top 3 by Mirai packets
    p_src, p_label, p_n, p_m = ports["src"], ports["label"].astype(_I64), ports["n"], ports["m"]
    keys, first, counts = _segments(p_src)
    out["dst_ports"] = _align(sources, keys, counts, 0)
    top = np.full((len(sources), 5), -1, dtype=_I64)
    mirai = np.full((len(sources), 3), -1, dtype=_I64)
    if len(keys):
        at = np.searchsorted(sources, keys)
        top[at] = _top_k(first, p_label.astype(_I64), p_n, 5, False)
        mirai[at] = _top_k(first, p_label.astype(_I64), p_m, 3, True)
    out["top_ports"] = _labels_text(top)
    out["mirai_ports"] = _labels_text(mirai)

    # 5. the busiest flow interval of responses
    r_src, r_n = resp["src"], resp["n"]
    keys, first, _ = _segments(r_src)
    peak = _reduce(np.maximum, r_n, None, first)
    out["resp_window_max"] = _align(sources, keys, peak, 0)
    out["src"] = sources
    return out
