"""Opening the flow store for detection (DuckDB view ``flows``)."""

from __future__ import annotations

import duckdb

from iotnotice.settings import Settings

__all__ = ["open_flows"]


def open_flows(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the ``flows`` view of the store's Parquet dataset."""
    try:
        from iotnotice.store.query import connect_duckdb
    except ImportError:
        return _plain_view(settings)
    return connect_duckdb(settings)


def _plain_view(settings: Settings) -> duckdb.DuckDBPyConnection:
    # Same layout the store writes; used when the store part is not installed alongside.
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    root = settings.flows_path
    files = list(root.glob("sensor=*/date=*/hour=*/*.parquet")) if root.is_dir() else []
    if files:
        glob = str(root / "sensor=*" / "date=*" / "hour=*" / "*.parquet").replace("'", "''")
        con.execute(
            "CREATE VIEW flows AS SELECT * FROM "
            f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
        )
    else:
        from iotnotice.schemas import FLOW_TUPLE, arrow_schema

        empty = arrow_schema(FLOW_TUPLE).empty_table()
        con.register("_flows_empty", empty)
        con.execute(
            "CREATE VIEW flows AS SELECT *, ''::VARCHAR AS sensor, ''::VARCHAR AS date,"
            " 0::INTEGER AS hour FROM _flows_empty"
        )
    return con
