"""Views of the daily aggregates on a DuckDB connection (``store.query.connect_duckdb``)."""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["aggregate_views"]


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
