"""The interval join behind matching, as sorted equality keys and numpy ``searchsorted``.

Probing by address alone would compare a lookup with the whole history of its address (hundreds
of CGNAT port blocks, weeks of dynamic sessions). Instead every interval is cut into day buckets
(only the days the lookups span) and CGNAT blocks also into 256-port slices; a lookup probes one
key per kind and is compared only with the few intervals sharing its address, day and slice::

    key = address << 29 | day << 9 | slice
    slice: 0..255 = source port // 256 (CGNAT), 510 = any port (CGNAT), 511 = no port (RADIUS, DHCP)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["Hits", "covering"]

DAY = 86_400
ANY_PORT = 510
NO_PORT = 511
UNRESOLVED = -2  # a CGNAT inside address that no RADIUS/DHCP interval covers


@dataclass
class Hits:
    """One row per (lookup, covering interval): lookup index, subscriber code, CGNAT flag, row."""

    qid: np.ndarray
    sub: np.ndarray
    shared: np.ndarray
    row: np.ndarray


def _key(ip: np.ndarray, day: np.ndarray, port_slice: np.ndarray | int) -> np.ndarray:
    return (ip.astype(np.int64) << 29) | (day.astype(np.int64) << 9) | np.int64(port_slice)


class _Index:
    """Intervals cut into keyed pieces and sorted by key."""

    def __init__(self, intervals: pa.Table, t_min: int, t_max: int) -> None:
        self.start = intervals["start"].to_numpy()
        self.end = intervals["end"].to_numpy()
        self.lo = intervals["port_lo"].to_numpy()
        self.hi = intervals["port_hi"].to_numpy()
        self.base = t_min // DAY
        first = np.maximum(self.start, t_min) // DAY - self.base
        last = np.minimum(self.end - 1, t_max) // DAY - self.base
        live = np.flatnonzero((last >= first) & (self.end > self.start))
        shared = self.lo[live] >= 0
        # CGNAT pieces: the "any port" slice plus each 256-port slice; others: one "no port".
        slices = np.where(shared, self.hi[live] // 256 - self.lo[live] // 256 + 2, 1)
        per = (last - first + 1)[live] * slices
        row = np.repeat(live, per)
        k = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        nslice = np.repeat(slices, per)
        day = np.repeat(first[live], per) + k // nslice
        s = k % nslice
        piece = np.where(s == 0, ANY_PORT, self.lo[row] // 256 + s - 1)
        piece = np.where(np.repeat(shared, per), piece, NO_PORT)
        keys = _key(intervals["ip"].to_numpy()[row], day, piece)
        order = np.argsort(keys)
        self.keys, self.rows = keys[order], row[order]

    def probe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probe index, interval row) for every piece sharing a probe's key."""
        # Sorted needles let searchsorted start each search where the previous one ended.
        order = np.argsort(keys)
        lo, count = np.empty(len(keys), np.int64), np.empty(len(keys), np.int64)
        lo[order] = np.searchsorted(self.keys, keys[order], "left")
        count[order] = np.searchsorted(self.keys, keys[order], "right") - lo[order]
        which = np.repeat(np.arange(len(keys)), count)
        step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return which, self.rows[np.repeat(lo, count) + step]

    def covers(self, row: np.ndarray, t: np.ndarray, port: np.ndarray) -> np.ndarray:
        ok = (self.start[row] <= t) & (t < self.end[row])
        lo, hi = self.lo[row], self.hi[row]
        return ok & ((lo < 0) | (port < 0) | ((lo <= port) & (port <= hi)))


def covering(
    intervals: pa.Table, subs: np.ndarray, ips: np.ndarray, times: np.ndarray, ports: np.ndarray
) -> Hits:
    """Every interval covering each lookup; ``subs`` are subscriber codes (-1: none given)."""
    if len(ips) == 0:
        empty = np.zeros(0, np.int64)
        return Hits(empty, empty, empty.astype(bool), empty)
    t_min, t_max = int(times.min()), int(times.max())
    index = _Index(intervals, t_min, t_max)
    day = times // DAY - index.base
    cgnat = np.where(ports >= 0, ports // 256, ANY_PORT)
    n = len(ips)
    which, row = index.probe(np.concatenate([_key(ips, day, NO_PORT), _key(ips, day, cgnat)]))
    qid = which % n
    ok = index.covers(row, times[qid], ports[qid])
    qid, row = qid[ok], row[ok]
    sub, shared = subs[row], index.lo[row] >= 0
    # CGNAT blocks naming only an inside address: match that address at the same time.
    inside = intervals["inside_ip"].to_numpy()[row]
    hop = np.flatnonzero((sub < 0) & (inside > 0))
    h_which, h_row = index.probe(_key(inside[hop], day[qid[hop]], NO_PORT))
    h_ok = index.covers(h_row, times[qid[hop]][h_which], np.full(len(h_row), -1))
    h_which, h_row = h_which[h_ok], h_row[h_ok]
    lost = np.setdiff1d(np.arange(len(hop)), h_which)
    keep = np.flatnonzero(~((sub < 0) & (inside > 0)))
    return Hits(
        qid=np.concatenate([qid[keep], qid[hop][h_which], qid[hop][lost]]),
        sub=np.concatenate([sub[keep], subs[h_row], np.full(len(lost), UNRESOLVED)]),
        shared=np.concatenate([shared[keep], np.ones(len(h_row) + len(lost), bool)]),
        row=np.concatenate([row[keep], row[hop][h_which], row[hop][lost]]),
    )
