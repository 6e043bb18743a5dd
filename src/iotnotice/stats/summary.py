"""NICTER-style telescope statistics: packets, monitored addresses, packets per address.

NICTER's yearly table for 2018 reads: about 212.1 billion packets, about 300k (30万) monitored
addresses, and 789,876 packets per address. Those three do not divide — 212.1e9 / 300,000 is
about 707,000 — because the "per address" figure divides by the *time-weighted average* number
of addresses that were actually monitored over the year (sensors come and go), about 268,500
(212.1e9 / 789,876), while the headline address count is the *stated* inventory. This module
reports both: ``monitored_addresses`` (every IPv4 address of a prefix valid at some time in the
period) and ``monitored_addresses_avg`` (each prefix's size weighted by the share of the period
it was valid), and computes ``packets_per_address`` on the time-weighted figure.

A period is a UTC calendar year, month or day; the part of a period that lies in the future is
left out of the time weighting, so a current year is weighted over the days elapsed so far.
Figures come from the daily aggregates when ingest has written them (fast), otherwise from a
scan of the flow store; both give the same numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from sqlalchemy import Engine

from iotnotice.errors import NotFoundError
from iotnotice.settings import Settings
from iotnotice.stats.aggregates import aggregates_path
from iotnotice.stats.flows import aggregate_views
from iotnotice.stats.inventory import load_inventory, monitored_addresses
from iotnotice.stats.monthsets import month_view
from iotnotice.stats.periods import period_bounds, period_format
from iotnotice.store.query import connect_duckdb

__all__ = ["PROTOCOL_NAMES", "protocol_mix", "statistics", "statistics_per_sensor", "top_ports"]

Source = Literal["auto", "flows", "aggregates"]

PROTOCOL_NAMES: dict[int, str] = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}

_SOURCES = "count(DISTINCT src_ip) FILTER (WHERE src_ip6 IS NULL) + count(DISTINCT src_ip6)"


def _open(settings: Settings, source: Source) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection and whether the aggregate views are to be used."""
    con = connect_duckdb(settings)
    if source == "flows":
        return con, False
    have = aggregate_views(con, aggregates_path(settings))
    if source == "aggregates" and not have:
        con.close()
        raise NotFoundError("no daily aggregates in the data directory; rebuild them first")
    return con, have


def _where(sensor: str | None) -> tuple[str, list[Any]]:
    return ("WHERE sensor = ?", [sensor]) if sensor is not None else ("", [])


def _period_rows(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    use_aggregates: bool,
    sensor: str | None,
    root: Path,
) -> list[tuple[str, int, int]]:
    where, params = _where(sensor)
    if use_aggregates and fmt in ("%Y", "%Y-%m") and month_view(con, root):
        return _compact_rows(con, fmt, where, params)
    if use_aggregates:
        sql = f"""SELECT strftime(date, '{fmt}') AS period, sum(packets)::BIGINT, {_SOURCES}
                  FROM agg_sources {where} GROUP BY period ORDER BY period"""
    else:
        sql = f"""SELECT strftime(epoch_ms(time::BIGINT * 1000), '{fmt}') AS period,
                         sum(packet_cnt)::BIGINT, {_SOURCES}
                  FROM flows {where} GROUP BY period ORDER BY period"""
    return [(str(p), int(n), int(s)) for p, n, s in con.execute(sql, params).fetchall()]


def _compact_rows(
    con: duckdb.DuckDBPyConnection, fmt: str, where: str, params: list[Any]
) -> list[tuple[str, int, int]]:
    """Years or months from the small aggregates: packets per port, distinct month sets."""
    width = 4 if fmt == "%Y" else 7
    packets = con.execute(
        f"""SELECT strftime(date, '{fmt}') AS period, sum(packets)::BIGINT
            FROM agg_ports {where} GROUP BY period""",
        params,
    ).fetchall()
    sources = dict(
        con.execute(
            f"""SELECT substr(month, 1, {width}) AS period, {_SOURCES}
                FROM agg_month_sources {where} GROUP BY period""",
            params,
        ).fetchall()
    )
    return sorted((str(p), int(n), int(sources.get(p, 0))) for p, n in packets)


def statistics(
    settings: Settings,
    engine: Engine,
    by: str = "year",
    *,
    sensor: str | None = None,
    source: Source = "auto",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per period: period, packets, monitored addresses (stated and time-weighted),
    packets per address (on the time-weighted figure) and unique sources."""
    fmt = period_format(by)
    now = now or datetime.now(UTC)
    spans = load_inventory(engine, sensor)
    con, use_aggregates = _open(settings, source)
    try:
        rows = _period_rows(con, fmt, use_aggregates, sensor, aggregates_path(settings))
    finally:
        con.close()
    out: list[dict[str, Any]] = []
    for period, packets, sources in rows:
        start, end = period_bounds(by, period)
        stated, weighted = monitored_addresses(spans, start, max(start, min(end, now)))
        out.append(
            {
                "period": period,
                "packets": packets,
                "monitored_addresses": stated,
                "monitored_addresses_avg": weighted,
                "packets_per_address": packets / weighted if weighted > 0 else None,
                "sources": sources,
            }
        )
    return out


def statistics_per_sensor(
    settings: Settings,
    engine: Engine,
    by: str = "year",
    *,
    source: Source = "auto",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The same rows for each sensor of the inventory, each with a ``sensor`` key."""
    names = sorted({span.sensor for span in load_inventory(engine)})
    return [
        {"sensor": name, **row}
        for name in names
        for row in statistics(settings, engine, by, sensor=name, source=source, now=now)
    ]


def top_ports(
    settings: Settings, limit: int = 10, *, sensor: str | None = None, source: Source = "auto"
) -> list[dict[str, Any]]:
    """Destination ports by packets over the whole store: protocol, port, packets, share."""
    con, use_aggregates = _open(settings, source)
    where, params = _where(sensor)
    table, count = ("agg_ports", "packets") if use_aggregates else ("flows", "packet_cnt")
    try:
        rows = con.execute(
            f"""SELECT protocol, dst_port, sum({count})::BIGINT AS n,
                       n / sum(n) OVER () AS share
                FROM {table} {where} GROUP BY protocol, dst_port
                ORDER BY n DESC, protocol, dst_port LIMIT {int(limit)}""",
            params,
        ).fetchall()
    finally:
        con.close()
    return [
        {
            "protocol": PROTOCOL_NAMES.get(int(p), str(p)),
            "port": int(d),
            "packets": int(n),
            "share": s,
        }
        for p, d, n, s in rows
    ]


def protocol_mix(
    settings: Settings, *, sensor: str | None = None, source: Source = "auto"
) -> list[dict[str, Any]]:
    """Packets per IP protocol over the whole store: protocol, packets, share."""
    con, use_aggregates = _open(settings, source)
    where, params = _where(sensor)
    table, count = ("agg_ports", "packets") if use_aggregates else ("flows", "packet_cnt")
    try:
        rows = con.execute(
            f"""SELECT protocol, sum({count})::BIGINT AS n, n / sum(n) OVER () AS share
                FROM {table} {where} GROUP BY protocol ORDER BY n DESC, protocol""",
            params,
        ).fetchall()
    finally:
        con.close()
    return [
        {"protocol": PROTOCOL_NAMES.get(int(p), str(p)), "packets": int(n), "share": s}
        for p, n, s in rows
    ]
