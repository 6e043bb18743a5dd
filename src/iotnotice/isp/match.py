"""(address, time[, source port]) -> subscriber, as one vectorised interval join (numpy).

A lookup is *matched* when every interval covering it names the same subscriber; *ambiguous*
when covering intervals name different subscribers (overlapping leases, a shared CGNAT address
without a source port); *unmatched* when none covers it. Nothing is ever guessed: ambiguous and
unmatched lookups carry the reason. CGNAT blocks that give only an inside address are resolved by
a second probe of (inside address, time) against the RADIUS/DHCP intervals. The join itself
(sorted keys and ``searchsorted``) lives in :mod:`iotnotice.isp._join`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from iotnotice.db.engine import session_scope
from iotnotice.db.models import IspCase, utcnow
from iotnotice.isp._join import UNRESOLVED, Hits, covering
from iotnotice.isp.logs import load_intervals
from iotnotice.settings import Settings

__all__ = ["MatchResult", "MatchSummary", "match_cases", "match_lookups"]


@dataclass
class MatchResult:
    """Per lookup: status ('matched'|'ambiguous'|'unmatched'), subscriber, log source, reason."""

    status: np.ndarray
    subscriber: np.ndarray
    source: np.ndarray
    reason: np.ndarray


def _when(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary codes (-1 for empty strings) and the dictionary."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr))
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_numpy(zero_copy_only=False)


class _Outcome:
    """Per-lookup aggregates of the covering intervals."""

    def __init__(self, hits: Hits, n: int, names: np.ndarray, sources: np.ndarray) -> None:
        width = len(names) + 3
        pair = np.unique(hits.qid * width + hits.sub + 2)
        self.pq, self.ps = pair // width, pair % width - 2
        named = self.ps >= 0
        self.count = np.bincount(self.pq[named], minlength=n)
        self.unresolved = np.bincount(self.pq[self.ps == UNRESOLVED], minlength=n) > 0
        self.hit = np.bincount(hits.qid, minlength=n) > 0
        self.shared = np.bincount(hits.qid[hits.shared], minlength=n) > 0
        self.matched = (self.count == 1) & ~self.unresolved
        self.subscriber = np.full(n, "", dtype=object)
        one = named & self.matched[self.pq]
        self.subscriber[self.pq[one]] = names[self.ps[one]]
        mask = np.zeros(n, np.int64)
        np.bitwise_or.at(mask, hits.qid, np.left_shift(1, sources))
        self.source_mask = mask

    def names_of(self, i: int, names: np.ndarray) -> list[str]:
        lo, hi = np.searchsorted(self.pq, [i, i + 1])  # pairs are sorted by lookup
        return sorted(str(names[k]) for k in self.ps[lo:hi] if k >= 0)


def match_lookups(
    intervals: pa.Table, ips: np.ndarray, times: np.ndarray, ports: np.ndarray | None = None
) -> MatchResult:
    """Match arrays of IPv4 (uint32), epoch seconds and source ports (-1: unknown)."""
    n = len(ips)
    ports = np.full(n, -1, np.int64) if ports is None else np.asarray(ports, np.int64)
    ips, times = np.asarray(ips, np.uint32), np.asarray(times, np.int64)
    subs, names = _codes(intervals["subscriber"])
    src_codes, src_names = _codes(intervals["source"])
    hits = covering(intervals, subs, ips, times, ports)
    out = _Outcome(hits, n, names, src_codes[hits.row])
    status = np.where(out.matched, "matched", np.where(out.hit, "ambiguous", "unmatched"))
    status = status.astype(object)
    source = _source_names(out.source_mask, src_names)
    reason = np.full(n, "", dtype=object)
    inside = intervals["inside_ip"].to_numpy()
    lost_row = np.zeros(n, np.int64)
    lost_row[hits.qid[hits.sub == UNRESOLVED]] = hits.row[hits.sub == UNRESOLVED]
    for i in np.flatnonzero(~out.matched):  # the few that need a reason
        ip, when = ipaddress.IPv4Address(int(ips[i])), _when(int(times[i]))
        if not out.hit[i]:
            port = f" port {ports[i]}" if ports[i] >= 0 else ""
            reason[i] = f"no RADIUS/DHCP/CGNAT record covers {ip}{port} at {when}"
        elif out.count[i] == 0:
            status[i] = "unmatched"
            private = ipaddress.IPv4Address(int(inside[lost_row[i]]))
            reason[i] = f"CGNAT inside address {private} has no subscriber at {when}"
        elif out.shared[i] and ports[i] < 0:
            reason[i] = (
                f"{ip} is a shared CGNAT address and the report has no source port "
                f"({out.count[i]} subscriber(s) known at {when})"
            )
        else:
            held = ", ".join(out.names_of(int(i), names)[:3])
            gap = "; an inside address has no subscriber" if out.unresolved[i] else ""
            reason[i] = (
                f"{out.count[i]} subscribers hold {ip} at {when} in the {source[i]} logs: "
                f"{held}{gap}"
            )
    return MatchResult(status, out.subscriber, source, reason)


def _source_names(mask: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Bit masks of log sources -> names joined by '+'."""
    out = np.full(len(mask), "", dtype=object)
    for value in np.unique(mask):
        label = "+".join(sorted(str(names[b]) for b in range(len(names)) if value >> b & 1))
        out[mask == value] = label
    return out


@dataclass
class MatchSummary:
    """Counts per outcome, and the cases not matched with their reasons."""

    matched: int = 0
    ambiguous: int = 0
    unmatched: int = 0
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, ip, status, why


def _epoch(value: datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def _split(cases: Sequence[IspCase]) -> tuple[list[IspCase], list[IspCase]]:
    v4: list[IspCase] = []
    other: list[IspCase] = []
    for case in cases:
        (v4 if ipaddress.ip_address(case.ip).version == 4 else other).append(case)
    return v4, other


def match_cases(settings: Settings, engine: Engine, rematch: bool = False) -> MatchSummary:
    """Match every case not yet matched (all cases with ``rematch``) against the loaded logs."""
    summary = MatchSummary()
    intervals = load_intervals(settings)
    with session_scope(engine) as session:
        query = select(IspCase).order_by(IspCase.id)
        if not rematch:
            query = query.where(IspCase.match_status != "matched")
        v4, other = _split(list(session.scalars(query)))
        result = match_lookups(
            intervals,
            np.array([int(ipaddress.IPv4Address(c.ip)) for c in v4], np.uint32),
            np.array([_epoch(c.observed_at) for c in v4], np.int64),
            np.array([-1 if c.src_port is None else c.src_port for c in v4], np.int32),
        )
        outcomes = zip(result.status, result.subscriber, result.source, result.reason, strict=True)
        for case, (status, subscriber, source, reason) in zip(v4, outcomes, strict=True):
            _record(case, status, subscriber or None, source, reason, summary)
        for case in other:
            _record(case, "unmatched", None, "", "IPv6: no IPv6 subscriber logs", summary)
    return summary


def _record(
    case: IspCase, status: str, subscriber: str | None, source: str, reason: str, s: MatchSummary
) -> None:
    case.match_status, case.subscriber = status, subscriber
    case.match_source, case.match_reason = source, reason
    case.updated_at = utcnow()
    setattr(s, status, getattr(s, status) + 1)
    if status != "matched":
        s.problems.append((case.id, case.ip, status, reason))
