"""Merge honeypot verdicts into the ``hosts`` table.

- A source seen only by the honeypot gets a host row: classification ``infected``, the session's
  family and confidence, no darknet packets, the honeypot service port, ``evidence`` with
  ``rule: honeypot`` and the session, and AS/country/ISP from the enrich part.
- A source the darknet detection already classified keeps its darknet evidence; the honeypot
  evidence is added under ``evidence["honeypot"]``. When darknet detection also said ``infected``
  the two independent confidences combine as ``1 - (1 - c_darknet) * (1 - c_honeypot)``; any other
  darknet class becomes ``infected`` with the honeypot confidence, except ``research``, which is
  never notified and only gains the evidence.

Merging is idempotent: the darknet values are remembered under ``evidence["honeypot"]`` and
reused when merging again. Detection replaces host rows, so run this after every detection run.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from iotnotice.db.engine import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.enrich.ipdata import load_ip_data
from iotnotice.enrich.registry import load_registry
from iotnotice.honeypot.store import HoneypotVerdict, honeypot_verdicts
from iotnotice.settings import Settings

__all__ = ["MergeSummary", "merge_into_hosts"]

_CHUNK = 400
_SERVICE_PORTS = {"telnet": "23/tcp", "ssh": "22/tcp"}


@dataclass(frozen=True)
class MergeSummary:
    """Host rows created for honeypot-only sources, and darknet rows extended."""

    created: int
    extended: int


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _port(verdict: HoneypotVerdict) -> str:
    return _SERVICE_PORTS.get(verdict.protocol, "")


def _enrichment(settings: Settings, ips: list[str]) -> dict[str, tuple[Any, ...]]:
    """ip -> (asn, as_name, country, isp) for IPv4 sources."""
    v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
    if not v4:
        return {}
    found = load_ip_data(settings).lookup_text(v4)
    known = np.flatnonzero((found.asn >= 0) | (found.as_name != None))  # noqa: E711
    isps = np.full(len(v4), None, dtype=object)
    if len(known):
        # Only addresses with a known AS can belong to an ISP of the registry.
        isps[known] = load_registry(settings).match_columns(found.asn[known], found.as_name[known])
    return {
        ip: (
            None if int(found.asn[i]) < 0 else int(found.asn[i]),
            found.as_name[i],
            found.country[i],
            isps[i],
        )
        for i, ip in enumerate(v4)
    }


def _new_host(v: HoneypotVerdict, enrich: tuple[Any, ...] | None) -> DetectedHost:
    asn, as_name, country, isp = enrich or (None, None, None, None)
    return DetectedHost(
        ip=v.ip,
        classification="infected",
        family=v.family,
        confidence=v.confidence,
        first_seen=v.first_seen,
        last_seen=v.last_seen,
        packets=0,
        ports=_port(v),
        asn=asn,
        as_name=as_name,
        country=country,
        isp=isp,
        evidence=dict(v.evidence),
    )


def _extend(host: DetectedHost, v: HoneypotVerdict) -> None:
    evidence = dict(host.evidence or {})
    if evidence.get("rule") == "honeypot":
        # A row this module created: refresh it from the newest verdict.
        host.evidence, host.confidence, host.family = dict(v.evidence), v.confidence, v.family
    else:
        before = evidence.get("honeypot") or {
            "darknet_classification": host.classification,
            "darknet_family": host.family,
            "darknet_confidence": host.confidence,
        }
        darknet_class = before["darknet_classification"]
        darknet_conf = float(before["darknet_confidence"])
        evidence["honeypot"] = {**v.evidence, **_only_darknet(before)}
        host.evidence = evidence
        if darknet_class == "infected":
            host.confidence = 1.0 - (1.0 - darknet_conf) * (1.0 - v.confidence)
            if before["darknet_family"] in (None, "iot-unknown"):
                host.family = v.family
        elif darknet_class != "research":
            host.classification, host.confidence, host.family = "infected", v.confidence, v.family
    host.first_seen = min(_aware(host.first_seen), v.first_seen)
    host.last_seen = max(_aware(host.last_seen), v.last_seen)
    ports = [p for p in (host.ports or "").split(",") if p]
    if _port(v) and _port(v) not in ports:
        host.ports = ",".join([*ports, _port(v)])


def _only_darknet(before: dict[str, Any]) -> dict[str, Any]:
    keys = ("darknet_classification", "darknet_family", "darknet_confidence")
    return {k: before[k] for k in keys}


def merge_into_hosts(settings: Settings, engine: Engine) -> MergeSummary:
    """Upsert every source the honeypot judged infected into ``hosts`` (see the module doc)."""
    verdicts = {v.ip: v for v in honeypot_verdicts(engine)}
    created = extended = 0
    with session_scope(engine) as db:
        ips = list(verdicts)
        hosts: dict[str, DetectedHost] = {}
        for i in range(0, len(ips), _CHUNK):
            stmt = select(DetectedHost).where(DetectedHost.ip.in_(ips[i : i + _CHUNK]))
            hosts.update({h.ip: h for h in db.scalars(stmt)})
        missing = [ip for ip in ips if ip not in hosts]
        enrich = _enrichment(settings, missing) if missing else {}
        for ip in missing:
            db.add(_new_host(verdicts[ip], enrich.get(ip)))
            created += 1
        for ip, host in hosts.items():
            _extend(host, verdicts[ip])
            extended += 1
    return MergeSummary(created=created, extended=extended)
