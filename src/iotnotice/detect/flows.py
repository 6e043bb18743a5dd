"""Opening the flow store for detection (DuckDB view ``flows``)."""

from __future__ import annotations

import duckdb

from iotnotice.settings import Settings
from iotnotice.store.query import connect_duckdb

__all__ = ["open_flows"]


def open_flows(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the ``flows`` view of the store's Parquet dataset."""
    return connect_duckdb(settings)
