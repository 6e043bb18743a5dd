"""Flow store: sensors, flow-tuple aggregation, partitioned Parquet, ingest manifest, DuckDB."""
