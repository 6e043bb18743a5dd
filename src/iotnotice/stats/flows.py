"""DuckDB over the flow store (view ``flows``) plus views of the daily aggregates."""

from __future__ import annotations

from pathlib import Path

import duckdb

from iotnotice.settings import Settings
from iotnotice.store.query import connect_duckdb

__all__ = ["aggregate_views", "connect_flows"]


def connect_flows(settings: Settings) -> duckdb.DuckDBPyConnection:
    """DuckDB with the view ``flows`` (FLOW_TUPLE columns + sensor, date, hour)."""
    return connect_duckdb(settings)


def aggregate_views(con: duckdb.DuckDBPyConnection, root: Path) -> bool:
    """Create views ``agg_sources`` and ``agg_ports`` when aggregates exist; True if they do."""
    for kind in ("sources", "ports"):
        if not any(root.glob(f"{kind}/sensor=*/date=*/*.parquet")):
            return False
    for kind in ("sources", "ports"):
        glob = (root / kind / "sensor=*" / "date=*" / "*.parquet").as_posix().replace("'", "''")
        con.execute(
            f"CREATE OR REPLACE VIEW agg_{kind} AS SELECT * FROM read_parquet('{glob}', "
            "hive_partitioning = true, hive_types = {'sensor': VARCHAR, 'date': DATE})"
        )
    return True
