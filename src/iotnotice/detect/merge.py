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

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

__all__ = ["merge_features"]

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


def _sum(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0, dtype=_I64)
    return np.add.reduceat(values[order].astype(_I64, copy=False), starts)


def _reduce(ufunc: Any, values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return ufunc.reduceat(values[order], starts)


def _first_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the first maximum of each segment of ``values`` (segments begin at ``starts``)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=_I64)
    top = np.maximum.reduceat(values, starts)
    lengths = np.diff(np.r_[starts, len(values)])
    at = np.where(values == np.repeat(top, lengths), np.arange(len(values)), len(values))
    return np.minimum.reduceat(at, starts)


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


def _labels_text(top: np.ndarray) -> np.ndarray:
    """'23/tcp,2323/tcp' per row of label ids (protocol * 65536 + port; -1 = none, at the end)."""
    values = np.unique(top[top >= 0])
    names = pa.array(
        [f"{v % 65536}/{'tcp' if v // 65536 == 6 else 'udp'}" for v in values.tolist()],
        type=pa.string(),
    )
    text = pa.array(np.full(len(top), "", dtype=object), type=pa.string())
    if len(values) == 0:
        return text.to_numpy(zero_copy_only=False)
    for j in range(top.shape[1]):
        col = top[:, j]
        idx = pa.array(np.searchsorted(values, col), mask=col < 0, type=pa.int32())
        name = names.take(idx)
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


def merge_features(
    sig: dict[str, np.ndarray],
    ports: dict[str, np.ndarray],
    resp: dict[str, np.ndarray],
    dsts: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Per-source feature columns (sorted by source id) from the partial rows of one family.

    ``src`` (and ``dst`` in ``dsts``) are uint64 ids; the other columns as detect.partials
    writes them.
    """
    # 1. merge (source, signature) groups
    # Signatures span 48 bits: their ranks (< 2**32 rows) pack with the source into 64.
    _, sig_rank = np.unique(sig["sig"], return_inverse=True)
    order, starts = _runs(_pack(sig["src"], sig_rank, 32))
    g_src = sig["src"][order][starts] if len(starts) else sig["src"][:0]
    g_sig = sig["sig"][order][starts] if len(starts) else sig["sig"][:0]
    g = {c: _sum(sig[c], order, starts) for c in ("n", "r", "mirai", "masscan", "zmap")}
    g.update({c: _sum(sig[c], order, starts) for c in ("spoofed", "quirk", "resp", "iot")})
    t0 = _reduce(np.minimum, sig["t0"], order, starts)
    t1 = _reduce(np.maximum, sig["t1"], order, starts)
    sp_key = _reduce(np.maximum, sig["sp_key"], order, starts)
    dp_key = _reduce(np.maximum, sig["dp_key"], order, starts)

    # 2. per source from the signature groups (sorted by source, then signature)
    sources, s_starts, _ = _segments(g_src)
    every = np.arange(len(g_src))

    def per_src(values: np.ndarray) -> np.ndarray:
        return _sum(values, every, s_starts)

    ttl = (g_sig >> 40) & 255
    proto = (g_sig >> 32) & 255
    flags = (g_sig >> 24) & 255
    synlen = (g_sig >> 16) & 255
    n = g["n"]
    zero = np.zeros_like(n)
    is_syn = (proto == 6) & ((flags & 18) == 2)
    is_icmp = (proto == 1) | (proto == 58)
    out: dict[str, np.ndarray] = {
        "packets": per_src(n),
        "flow_rows": per_src(g["r"]),
        "first_seen": _reduce(np.minimum, t0, every, s_starts).astype(_I64),
        "last_seen": _reduce(np.maximum, t1, every, s_starts).astype(_I64),
        "mirai_cnt": per_src(g["mirai"]),
        "masscan_cnt": per_src(g["masscan"]),
        "zmap_cnt": per_src(g["zmap"]),
        "spoofed_cnt": per_src(g["spoofed"]),
        "quirk_cnt": per_src(g["quirk"]),
        "syn_pkts": per_src(np.where(is_syn, n, zero)),
        "syn_noopt": per_src(np.where(is_syn & (synlen == 20), n, zero)),
        "resp_pkts": per_src(g["resp"]),
        "synack_pkts": per_src(np.where((proto == 6) & ((flags & 18) == 18), n, zero)),
        "rst_pkts": per_src(
            np.where((proto == 6) & ((flags & 4) == 4) & ((flags & 18) != 18), n, zero)
        ),
        "icmp_err_pkts": per_src(np.where(is_icmp, g["resp"], zero)),
        "dns_resp_pkts": per_src(np.where(proto == 17, g["resp"], zero)),
        "tcp_pkts": per_src(np.where(proto == 6, n, zero)),
        "udp_pkts": per_src(np.where(proto == 17, n, zero)),
        "icmp_pkts": per_src(np.where(is_icmp, n, zero)),
        "iot_syn": per_src(g["iot"]),
    }
    # Sample: the busiest signature (ties: the smallest, i.e. the first in its source's run).
    best = _first_max(n, s_starts) if len(n) else np.zeros(0, dtype=_I64)
    out["sample_dst_port"] = 65535 - dp_key[best] % 65536
    out["sample_src_port"] = 65535 - sp_key[best] % 65536
    out["sample_sig"] = g_sig[best]
    # TTL mode: the TTL with most packets (ties: the smallest).
    t_order, t_starts = _runs(_pack(g_src, ttl, 8))
    t_src = g_src[t_order][t_starts] if len(t_starts) else g_src[:0]
    t_ttl = ttl[t_order][t_starts] if len(t_starts) else ttl[:0]
    t_n = _sum(n, t_order, t_starts)
    _, t_first, _ = _segments(t_src)
    out["ttl_mode"] = t_ttl[_first_max(t_n, t_first)].astype(np.int32) if len(t_n) else t_ttl

    # 3. distinct destinations (with Mirai / IoT SYNs)
    d_order, d_starts = _runs(_pack(dsts["src"], dsts["dst"], 32))
    fl = _reduce(np.bitwise_or, dsts["fl"], d_order, d_starts)
    d_src = dsts["src"][d_order][d_starts] if len(d_starts) else dsts["src"][:0]
    keys, first, counts = _segments(d_src)
    out["destinations"] = _align(sources, keys, counts, 0)
    every_d = np.arange(len(d_src))
    out["mirai_dsts"] = _align(sources, keys, _sum((fl & 1) > 0, every_d, first), 0)
    out["iot_dsts"] = _align(sources, keys, _sum((fl & 2) > 0, every_d, first), 0)

    # 4. ports: distinct, top 5 by packets, top 3 by Mirai packets
    p_order, p_starts = _runs(_pack(ports["src"], ports["label"], 21))
    p_src = ports["src"][p_order][p_starts] if len(p_starts) else ports["src"][:0]
    p_label = ports["label"][p_order][p_starts].astype(_I64) if len(p_starts) else ports["label"]
    p_n = _sum(ports["n"], p_order, p_starts)
    p_m = _sum(ports["m"], p_order, p_starts)
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
    r_order, r_starts = _runs(_pack(resp["src"], resp["time"], 32))
    r_src = resp["src"][r_order][r_starts] if len(r_starts) else resp["src"][:0]
    r_n = _sum(resp["n"], r_order, r_starts)
    keys, first, _ = _segments(r_src)
    peak = _reduce(np.maximum, r_n, np.arange(len(r_n)), first) if len(first) else r_n
    out["resp_window_max"] = _align(sources, keys, peak, 0)
    out["src"] = sources
    return out
