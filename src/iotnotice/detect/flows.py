"""Opening the flow store for detection (DuckDB view ``flows``)."""

from __future__ import annotations

import duckdb

from iotnotice.settings import Settings
from iotnotice.store.query import connect_duckdb

__all__ = ["open_flows"]


def open_flows(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the ``flows`` view of the store's Parquet dataset."""
    con = connect_duckdb(settings)
    # Detection's queries say their order (ORDER BY); without the default insertion-order
    # guarantee DuckDB's aggregations run freer (measured ~15% less CPU on the feature query).
    con.execute("SET preserve_insertion_order = false")
    return con
