"""A DuckDB connection over the flow store (view ``flows``) and the daily aggregates."""

from __future__ import annotations

from pathlib import Path

import duckdb

from iotnotice.settings import Settings

__all__ = ["aggregate_views", "connect_flows"]

_EMPTY_FLOWS = """CREATE OR REPLACE VIEW flows AS SELECT * FROM (VALUES
    (0::BIGINT, 0::UINTEGER, 0::UINTEGER, 0::USMALLINT, 0::USMALLINT, 0::UTINYINT, 0::UTINYINT,
     0::UTINYINT, 0::USMALLINT, 0::UTINYINT, 0::USMALLINT, 0::UINTEGER, 0::UINTEGER, 0::UINTEGER,
     0::UINTEGER, 0::UINTEGER, 0::UINTEGER, NULL::BLOB, NULL::BLOB, ''::VARCHAR, NULL::DATE,
     0::BIGINT))
    AS t(time, src_ip, dst_ip, src_port, dst_port, protocol, ttl, tcp_flags, ip_len, tcp_synlen,
         tcp_synwinlen, packet_cnt, mirai_cnt, masscan_cnt, zmap_cnt, spoofed_cnt, quirk_cnt,
         src_ip6, dst_ip6, sensor, date, hour) WHERE false"""


def _own_flows_view(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    # Used only while the store part's connect_duckdb is unavailable; same layout and columns.
    if not any(root.glob("sensor=*/date=*/hour=*/*.parquet")):
        con.execute(_EMPTY_FLOWS)
        return
    glob = (root / "sensor=*" / "date=*" / "hour=*" / "*.parquet").as_posix()
    con.execute(
        "CREATE OR REPLACE VIEW flows AS SELECT * FROM "
        f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
    )


def connect_flows(settings: Settings) -> duckdb.DuckDBPyConnection:
    """DuckDB with the view ``flows`` (FLOW_TUPLE columns + sensor, date, hour)."""
    try:
        from iotnotice.store.query import connect_duckdb
    except ImportError:
        con = duckdb.connect(config={"threads": int(settings.duckdb_threads)})
        _own_flows_view(con, settings.flows_path)
        return con
    return connect_duckdb(settings)


def aggregate_views(con: duckdb.DuckDBPyConnection, root: Path) -> bool:
    """Create views ``agg_sources`` and ``agg_ports`` when aggregates exist; True if they do."""
    views = {}
    for kind in ("sources", "ports"):
        pattern = root / kind / "sensor=*" / "date=*" / "*.parquet"
        if not any(root.glob(f"{kind}/sensor=*/date=*/*.parquet")):
            return False
        views[kind] = pattern.as_posix()
    for kind, glob in views.items():
        con.execute(
            f"CREATE OR REPLACE VIEW agg_{kind} AS SELECT * FROM "
            f"read_parquet('{glob}', hive_partitioning = true)"
        )
    return True
