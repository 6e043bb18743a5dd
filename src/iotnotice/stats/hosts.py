"""Figures about classified sources: infected hosts per day, top countries and ASes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, func, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.settings import Settings
from iotnotice.stats.aggregates import aggregates_path
from iotnotice.stats.flows import aggregate_views
from iotnotice.store.query import connect_duckdb

__all__ = ["infected_per_day", "top_sources"]


def _infected(engine: Engine) -> pa.Table:
    """Infected IPv4 hosts as an Arrow table (src_ip uint32, family, country)."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(DetectedHost.ip, DetectedHost.family, DetectedHost.country).where(
                DetectedHost.classification == "infected"
            )
        ).all()
    v4 = [(ip, fam, cc) for ip, fam, cc in rows if ":" not in ip]
    ips = np.array(
        [int.from_bytes(bytes(int(p) for p in ip.split(".")), "big") for ip, _, _ in v4],
        dtype=np.uint32,
    )
    return pa.table(
        {
            "src_ip": pa.array(ips, pa.uint32()),
            "family": pa.array([f or "" for _, f, _ in v4], pa.string()),
            "country": pa.array([c or "" for _, _, c in v4], pa.string()),
        }
    )


def infected_per_day(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """Per day: distinct infected hosts seen, those in the notification scope, and per family."""
    scope = list(settings.scope_countries)
    con = connect_duckdb(settings)
    try:
        con.register("infected", _infected(engine))
        if aggregate_views(con, aggregates_path(settings)):
            days = "SELECT CAST(date AS VARCHAR) AS day, src_ip FROM agg_sources"
        else:
            days = (
                "SELECT strftime(epoch_ms(time::BIGINT * 1000), '%Y-%m-%d') AS day, src_ip "
                "FROM flows"
            )
        rows = con.execute(
            f"""WITH seen AS (SELECT DISTINCT d.day, i.src_ip, i.family, i.country
                              FROM ({days}) d JOIN infected i USING (src_ip))
                SELECT day, family, count(*) AS hosts,
                       count(*) FILTER (WHERE list_contains(?, country)) AS in_scope
                FROM seen GROUP BY day, family ORDER BY day, family""",
            [scope],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, Any]] = {}
    for day, family, hosts, in_scope in rows:
        row = out.setdefault(day, {"day": day, "infected": 0, "in_scope": 0, "families": {}})
        row["infected"] += int(hosts)
        row["in_scope"] += int(in_scope)
        row["families"][family] = int(hosts)
    return list(out.values())


def top_sources(engine: Engine, by: str = "country", limit: int = 10) -> list[dict[str, Any]]:
    """Classified sources and their packets grouped by country or AS, largest first."""
    key = DetectedHost.country if by == "country" else DetectedHost.as_name
    with session_scope(engine) as session:
        rows = session.execute(
            select(key, func.count(), func.sum(DetectedHost.packets))
            .group_by(key)
            .order_by(func.count().desc(), key)
            .limit(limit)
        ).all()
    return [{by: k or "-", "sources": int(n), "packets": int(p or 0)} for k, n, p in rows]
