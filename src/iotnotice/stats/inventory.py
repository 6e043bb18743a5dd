"""Monitored address space over time, from the sensor inventory (``SensorPrefix`` rows).

A telescope's size changes as prefixes are added and withdrawn, so a period has two sizes:
the addresses *stated* (every IPv4 address of a prefix valid at any moment of the period) and
the *time-weighted average* (each prefix's size times the share of the period it was valid).
Only IPv4 prefixes count, as in NICTER's published figures.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import Sensor, SensorPrefix

__all__ = ["PrefixSpan", "load_inventory", "monitored_addresses"]


@dataclass(frozen=True)
class PrefixSpan:
    """One monitored IPv4 prefix: its sensor, size and validity [since, until)."""

    sensor: str
    size: int
    since: datetime
    until: datetime | None


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they are stored as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_inventory(engine: Engine, sensor: str | None = None) -> list[PrefixSpan]:
    """Every IPv4 prefix of the inventory (optionally one sensor's)."""
    query = select(Sensor.name, SensorPrefix.prefix, SensorPrefix.since, SensorPrefix.until).join(
        Sensor, SensorPrefix.sensor_id == Sensor.id
    )
    if sensor is not None:
        query = query.where(Sensor.name == sensor)
    spans: list[PrefixSpan] = []
    with session_scope(engine) as session:
        for name, prefix, since, until in session.execute(query):
            net = ipaddress.ip_network(prefix, strict=False)
            if net.version != 4:
                continue
            spans.append(
                PrefixSpan(name, net.num_addresses, _utc(since), _utc(until) if until else None)
            )
    return spans


def monitored_addresses(
    spans: list[PrefixSpan], start: datetime, end: datetime
) -> tuple[int, float]:
    """(stated, time-weighted average) monitored addresses over [start, end)."""
    length = (end - start).total_seconds()
    stated = 0
    weighted = 0.0
    for span in spans:
        lo = max(span.since, start)
        hi = min(span.until or end, end)
        if hi <= lo:
            continue
        stated += span.size
        weighted += span.size * (hi - lo).total_seconds()
    return stated, (weighted / length if length > 0 else 0.0)
