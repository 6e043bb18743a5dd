"""DuckDB over the flow store: a ``flows`` view of the whole partitioned Parquet dataset."""

from __future__ import annotations

import duckdb

from iotnotice.schemas import FLOW_TUPLE
from iotnotice.settings import Settings

__all__ = ["connect_duckdb", "flows_glob"]

_DUCK_TYPES = {
    "int64": "BIGINT",
    "uint32": "UINTEGER",
    "uint16": "USMALLINT",
    "uint8": "UTINYINT",
    "fixed_size_binary[16]": "BLOB",
}
_HIVE_TYPES = "{'sensor': VARCHAR, 'date': DATE, 'hour': INTEGER}"


def flows_glob(settings: Settings) -> str:
    """The glob matching every committed flow file."""
    return str(settings.flows_path / "sensor=*" / "date=*" / "hour=*" / "*.parquet")


def _empty_view() -> str:
    cols = ", ".join(f"NULL::{_DUCK_TYPES[str(c.type)]} AS {c.name}" for c in FLOW_TUPLE)
    return (
        f"CREATE OR REPLACE VIEW flows AS SELECT {cols}, NULL::VARCHAR AS sensor, "
        "NULL::DATE AS date, NULL::INTEGER AS hour WHERE false"
    )


def connect_duckdb(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the view ``flows`` (empty when nothing is stored)."""
    con = duckdb.connect(
        config={
            "memory_limit": str(settings.duckdb_memory_limit),
            "threads": int(settings.duckdb_threads),
        }
    )
    pattern = flows_glob(settings)
    if any(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet")):
        escaped = pattern.replace("'", "''")
        con.execute(
            "CREATE OR REPLACE VIEW flows AS SELECT * FROM read_parquet("
            f"'{escaped}', hive_partitioning = true, hive_types = {_HIVE_TYPES})"
        )
    else:
        con.execute(_empty_view())
    return con
