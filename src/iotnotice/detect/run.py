"""run_detection: the whole detection pass, from the flow store to the ``hosts`` table."""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, String, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost, SensorPrefix
from iotnotice.detect.evidence import evidence_json
from iotnotice.detect.features import Features, feature_chunks
from iotnotice.detect.hosts import HostWriter
from iotnotice.detect.research import ResearchNetworks, load_research_networks
from iotnotice.detect.rules import Classification, classify
from iotnotice.enrich.ipdata import Enrichment, IpData, load_ip_data
from iotnotice.enrich.registry import load_registry
from iotnotice.honeypot.merge import merge_into_hosts
from iotnotice.settings import Settings

__all__ = ["DetectionSummary", "monitored_addresses", "run_detection"]


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


def _ip_text(f: Features) -> list[str]:
    # Dotted quads from the octet columns in Arrow (as str(IPv4Address) writes them); IPv6 rows,
    # few in practice, through ipaddress.
    v4 = f["src_ip"].astype(np.uint32)
    octets = [pa.array((v4 >> shift) & 0xFF).cast(pa.string()) for shift in (24, 16, 8, 0)]
    out: list[str] = pc.binary_join_element_wise(*octets, ".").to_pylist()
    for i, b in enumerate(f["src_ip6"].tolist()):
        if b is not None:
            out[i] = str(ipaddress.IPv6Address(b))
    return out


def run_detection(
    settings: Settings,
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DetectionSummary:
    """Classify every source seen in [since, until) and replace the ``hosts`` table with them.

    Pipelined: the features come in chunks of consecutive sources (detect.features
    .feature_chunks), and each chunk is enriched, classified and written while the next ones
    are merged; the rows replace the table in one transaction (readers see the old rows or
    the new ones).
    """
    started = time.perf_counter()
    monitored = monitored_addresses(engine, since, until)
    tally = _Tally()
    # The IPv4 IP data loads in a thread and the first features are merged while the hosts
    # table is emptied (the IPv6 tables, rarely needed, load when a chunk has an IPv6 source).
    # Then, chunk by chunk, that thread enriches and classifies the next chunk while this one
    # stores the last (the inserts hold the GIL between rows; the evidence kernel does not).
    with ThreadPoolExecutor(1) as pool:
        ip_data = pool.submit(load_ip_data, settings)
        chunks = feature_chunks(settings, monitored, _epoch(since), _epoch(until))
        try:
            research = load_research_networks(settings)
            registry = load_registry(settings)
            data6: IpData | None = None

            def prepare(f: Features) -> tuple[Features, Classification, np.ndarray, Any]:
                nonlocal data6
                is_v6 = np.array([b is not None for b in f["src_ip6"]], dtype=bool)
                data = ip_data.result()
                if is_v6.any():
                    data = data6 = data6 or load_ip_data(settings, ipv6=True)
                enr, prefixes = _enrich(data, f, is_v6)
                isp = registry.match_columns(enr.asn, enr.as_name, f["src_ip"])
                result, columns = _classified(settings, f, enr, prefixes, isp, research)
                return f, result, isp, columns

            with HostWriter(engine, datetime.now(UTC)) as writer:
                ready: Future[tuple[Features, Classification, np.ndarray, Any]] | None = None
                for feats in itertools.chain(chunks, [None]):  # None: store the last
                    following = None if feats is None else pool.submit(prepare, feats)
                    if ready is not None:
                        f, result, isp, columns = ready.result()
                        writer.append(columns)
                        tally.add(f, result, isp)
                    ready = following
        finally:
            chunks.close()  # stops the merge's reader and pool, also when never started
    # Replacing the table dropped honeypot evidence: merge it back (honeypot-only hosts too).
    merged = merge_into_hosts(settings, engine)
    return DetectionSummary(
        sources=tally.sources,
        by_class=dict(tally.by_class),
        by_family=dict(tally.by_family),
        monitored_addresses=tally.monitored,
        flow_rows=tally.flow_rows,
        seconds=time.perf_counter() - started,
        since=since,
        until=until,
        infected_by_isp=dict(tally.by_isp),
        honeypot_created=merged.created,
        honeypot_extended=merged.extended,
    )


@dataclass
class _Tally:
    """The summary's counts, chunk by chunk."""

    sources: int = 0
    flow_rows: int = 0
    monitored: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    by_family: Counter[str] = field(default_factory=Counter)
    by_isp: Counter[str] = field(default_factory=Counter)

    def add(self, f: Features, result: Classification, isp: np.ndarray) -> None:
        infected = result.classification == "infected"
        self.sources += len(f)
        self.flow_rows += int(f["flow_rows"].sum()) if len(f) else 0
        self.monitored = f.monitored_addresses
        self.by_class.update(result.classification.tolist())
        self.by_family.update(result.family[infected].tolist())
        self.by_isp.update(str(x) if x else "_unassigned" for x in isp[infected])


def _classified(
    settings: Settings,
    f: Features,
    enr: Enrichment,
    prefixes: np.ndarray,
    isp: np.ndarray,
    research: ResearchNetworks,
) -> tuple[Classification, dict[str, Any]]:
    """One chunk's classification and host columns."""
    # IPv6 rows carry src_ip 0, which no listed IPv4 prefix covers; their ASNs still match.
    rmatch = research.match(f["src_ip"], enr.asn)
    result = classify(f, settings, rmatch, enr.reserved)
    _fill_research_family(result, rmatch, research)
    return result, _rows(f, enr, prefixes, isp, result, rmatch, research)


def _enrich(data: IpData, f: Features, is_v6: np.ndarray) -> tuple[Enrichment, np.ndarray]:
    """IP data for every source; IPv6 sources from the IPv6 tables (``data`` has them when
    any source is IPv6)."""
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
) -> dict[str, Any]:
    """Host columns as Python lists; times as epoch seconds, evidence already JSON text."""
    research_rows = {
        i: {"organisation": net.organisation, "source": net.source}
        for i in np.flatnonzero(rmatch >= 0).tolist()
        for net in [research.networks[int(rmatch[i])]]
    }
    rules = [str(r) for r in result.rule.tolist()]
    # Python lists once, not numpy scalars per field and host (200k hosts: seconds).
    columns: dict[str, Any] = {
        "ip": _ip_text(f),
        "classification": result.classification.tolist(),
        "family": _families(result.family),
        "confidence": result.confidence.astype(np.float64).tolist(),
        "first_seen": f["first_seen"].astype(np.int64),
        "last_seen": f["last_seen"].astype(np.int64),
        "packets": f["packets"].astype(np.int64).tolist(),
        "ports": f["top_ports"].tolist(),
        "asn": [a if a >= 0 else None for a in enr.asn.astype(np.int64).tolist()],
        "as_name": enr.as_name.tolist(),
        "country": enr.country.tolist(),
        "isp": isp.tolist(),
        "evidence": evidence_json(f, rules, prefixes.tolist(), research_rows),
    }
    return columns


def _families(family: np.ndarray) -> list[str | None]:
    # A research host's family is its organisation's name, which the operator's list may make
    # longer than the column (VARCHAR(32): PostgreSQL refused the whole insert); the full name
    # stays in the evidence ("research").
    column = DetectedHost.__table__.c.family.type
    limit = column.length if isinstance(column, String) and column.length else 32
    return [f if f is None or len(f) <= limit else f[:limit] for f in family.tolist()]
