"""run_detection: the whole detection pass, from the flow store to the ``hosts`` table."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, insert, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost, SensorPrefix
from iotnotice.detect.evidence import evidence_records
from iotnotice.detect.features import Features, compute_features
from iotnotice.detect.flows import open_flows
from iotnotice.detect.hosts import HOST_COLUMNS
from iotnotice.detect.research import ResearchNetworks, load_research_networks
from iotnotice.detect.rules import Classification, classify
from iotnotice.enrich.ipdata import Enrichment, load_ip_data
from iotnotice.enrich.registry import load_registry
from iotnotice.settings import Settings

__all__ = ["DetectionSummary", "monitored_addresses", "run_detection"]

_BATCH = 20_000


@dataclass(frozen=True)
class DetectionSummary:
    """What a detection pass found."""

    sources: int
    by_class: dict[str, int]
    by_family: dict[str, int]
    monitored_addresses: int
    flow_rows: int
    seconds: float
    since: datetime | None = None
    until: datetime | None = None
    infected_by_isp: dict[str, int] = field(default_factory=dict)
    honeypot_created: int = 0
    honeypot_extended: int = 0


def _epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def monitored_addresses(engine: Engine, since: datetime | None, until: datetime | None) -> int:
    """IPv4 addresses monitored by all sensors' prefixes valid in the window (overlaps once)."""
    with session_scope(engine) as session:
        rows = session.execute(select(SensorPrefix.prefix, SensorPrefix.since, SensorPrefix.until))
        nets = []
        for prefix, start, end in rows:
            if until is not None and _epoch(start) is not None and _epoch(start) >= _epoch(until):  # type: ignore[operator]
                continue
            if since is not None and end is not None and _epoch(end) <= _epoch(since):  # type: ignore[operator]
                continue
            net = ipaddress.ip_network(prefix, strict=False)
            if net.version == 4:
                nets.append(net)
    return sum(n.num_addresses for n in ipaddress.collapse_addresses(nets))


def _ip_text(f: Features) -> np.ndarray:
    v4 = f["src_ip"].astype(np.uint32)
    out = np.empty(len(f), dtype=object)
    for i, (a, b) in enumerate(zip(v4, f["src_ip6"], strict=True)):
        out[i] = (
            str(ipaddress.IPv6Address(b)) if b is not None else str(ipaddress.IPv4Address(int(a)))
        )
    return out


def run_detection(
    settings: Settings,
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DetectionSummary:
    """Classify every source seen in [since, until) and replace the ``hosts`` table with them."""
    started = time.perf_counter()
    monitored = monitored_addresses(engine, since, until)
    con = open_flows(settings)
    try:
        feats = compute_features(con, settings, monitored, _epoch(since), _epoch(until))
    finally:
        con.close()
    is_v6 = np.array([b is not None for b in feats["src_ip6"]], dtype=bool)
    enr, prefixes = _enrich(settings, feats, is_v6)
    isp = load_registry(settings).match_columns(enr.asn, enr.as_name, feats["src_ip"])
    research = load_research_networks(settings)
    # IPv6 rows carry src_ip 0, which no listed IPv4 prefix covers; their ASNs still match.
    rmatch = research.match(feats["src_ip"], enr.asn)
    result = classify(feats, settings, rmatch, enr.reserved)
    _fill_research_family(result, rmatch, research)
    rows = list(_rows(feats, enr, prefixes, isp, result, rmatch, research))
    _replace_hosts(engine, rows)
    # Replacing the table dropped honeypot evidence: merge it back (honeypot-only hosts too).
    from iotnotice.honeypot.merge import merge_into_hosts

    merged = merge_into_hosts(settings, engine)
    summary = _summary(feats, result, isp, time.perf_counter() - started, since, until)
    return dataclasses.replace(
        summary, honeypot_created=merged.created, honeypot_extended=merged.extended
    )


def _enrich(settings: Settings, f: Features, is_v6: np.ndarray) -> tuple[Enrichment, np.ndarray]:
    """IP data for every source; IPv6 sources from the IPv6 tables (loaded only when needed)."""
    data = load_ip_data(settings, ipv6=bool(is_v6.any()))
    enr = data.lookup(f["src_ip"])
    prefixes = enr.prefix
    if is_v6.any():
        e6 = data.lookup6(list(f["src_ip6"][is_v6]))
        enr.asn[is_v6] = e6.asn
        enr.as_name[is_v6] = e6.as_name
        enr.country[is_v6] = e6.country
        enr.reserved[is_v6] = e6.reserved
        prefixes[is_v6] = e6.prefix
    return enr, prefixes


def _fill_research_family(
    result: Classification, rmatch: np.ndarray, research: ResearchNetworks
) -> None:
    orgs = np.array([n.organisation for n in research.networks] + [None], dtype=object)
    hit = result.rule == "research-list"
    result.family[hit] = orgs[rmatch[hit]]


def _rows(
    f: Features,
    enr: Enrichment,
    prefixes: np.ndarray,
    isp: np.ndarray,
    result: Classification,
    rmatch: np.ndarray,
    research: ResearchNetworks,
) -> Any:
    ips = _ip_text(f)
    now = datetime.now(UTC)
    extras: list[dict[str, Any]] = [{"routed_prefix": p} for p in prefixes.tolist()]
    for i in np.flatnonzero(rmatch >= 0).tolist():
        net = research.networks[int(rmatch[i])]
        extras[i]["research"] = {"organisation": net.organisation, "source": net.source}
    rules = [str(r) for r in result.rule.tolist()]
    first = [datetime.fromtimestamp(t, UTC) for t in f["first_seen"].astype(np.int64).tolist()]
    last = [datetime.fromtimestamp(t, UTC) for t in f["last_seen"].astype(np.int64).tolist()]
    asn = [a if a >= 0 else None for a in enr.asn.astype(np.int64).tolist()]
    # Python lists once, not numpy scalars per field and host (200k hosts: seconds).
    columns = zip(
        ips.tolist(),
        result.classification.tolist(),
        result.family.tolist(),
        result.confidence.astype(np.float64).tolist(),
        first,
        last,
        f["packets"].astype(np.int64).tolist(),
        f["top_ports"].tolist(),
        asn,
        enr.as_name.tolist(),
        enr.country.tolist(),
        isp.tolist(),
        evidence_records(f, rules, extras),
        strict=True,
    )
    for values in columns:
        yield dict(zip(HOST_COLUMNS, values, strict=True), detected_at=now)


def _replace_hosts(engine: Engine, rows: list[dict[str, Any]]) -> None:
    # A Core executemany: the ORM bulk path spent about as long again building its own
    # per-row parameter sets (profiled with 200k hosts).
    table = DetectedHost.metadata.tables[DetectedHost.__tablename__]
    with session_scope(engine) as session:
        session.execute(delete(DetectedHost))
        for start in range(0, len(rows), _BATCH):
            session.execute(insert(table), rows[start : start + _BATCH])


def _summary(
    f: Features,
    result: Classification,
    isp: np.ndarray,
    seconds: float,
    since: datetime | None,
    until: datetime | None,
) -> DetectionSummary:
    infected = result.classification == "infected"
    return DetectionSummary(
        sources=len(f),
        by_class=dict(Counter(result.classification.tolist())),
        by_family=dict(Counter(result.family[infected].tolist())),
        monitored_addresses=f.monitored_addresses,
        flow_rows=int(f["flow_rows"].sum()) if len(f) else 0,
        seconds=seconds,
        since=since,
        until=until,
        infected_by_isp=dict(Counter(str(x) if x else "_unassigned" for x in isp[infected])),
    )
