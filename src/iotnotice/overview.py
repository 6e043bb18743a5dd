"""The demo's closing summary: infected hosts per ISP, top destination ports, packet totals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.settings import Settings
from iotnotice.store.query import connect_duckdb

__all__ = ["Overview", "overview"]


@dataclass(frozen=True)
class Overview:
    """Figures printed after a run."""

    packets: int
    sources: int
    hosts_by_class: dict[str, int]
    infected_by_isp: list[tuple[str, int]]
    top_ports: list[tuple[str, int]]


_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}


def overview(settings: Settings, engine: Engine, top: int = 10) -> Overview:
    """Collect the summary from the hosts table and the flow store."""
    with session_scope(engine) as s:
        by_class = dict(
            s.execute(
                select(DetectedHost.classification, func.count()).group_by(
                    DetectedHost.classification
                )
            ).all()
        )
        by_isp = s.execute(
            select(func.coalesce(DetectedHost.isp, "(no registry entry)"), func.count())
            .where(DetectedHost.classification == "infected")
            .group_by(DetectedHost.isp)
            .order_by(func.count().desc())
        ).all()
    con = connect_duckdb(settings)
    try:
        packets, sources = con.execute(
            "SELECT coalesce(sum(packet_cnt), 0), count(DISTINCT src_ip) FROM flows"
        ).fetchone() or (0, 0)
        ports = con.execute(
            "SELECT dst_port, protocol, sum(packet_cnt) AS n FROM flows "
            "WHERE protocol IN (6, 17) GROUP BY ALL ORDER BY n DESC LIMIT ?",
            [top],
        ).fetchall()
    finally:
        con.close()
    return Overview(
        packets=int(packets),
        sources=int(sources),
        hosts_by_class={str(k): int(v) for k, v in by_class.items()},
        infected_by_isp=[(str(k), int(v)) for k, v in by_isp],
        top_ports=[(f"{p}/{_PROTO.get(int(proto), proto)}", int(n)) for p, proto, n in ports],
    )
