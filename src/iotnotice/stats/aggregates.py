"""Compact daily aggregates that ingest maintains, so statistics never rescan every flow tuple.

Each flow-tuple chunk (a committed flow file) has two small Parquet files next to the flow
store, partitioned like it::

    <data_dir>/aggregates/sources/sensor=<name>/date=YYYY-MM-DD/<chunk_id>.parquet
        src_ip, src_ip6, packets, mirai          one row per (day, source) of the chunk
    <data_dir>/aggregates/ports/sensor=<name>/date=YYYY-MM-DD/<chunk_id>.parquet
        protocol, dst_port, packets, flows       one row per (day, protocol, port)

Ingest builds them from the rows in memory (:mod:`iotnotice.stats.ingestagg`);
:func:`update_daily_aggregates` and :func:`aggregate_committed_files` here compute the same
files from a flow table or from committed flow files (rebuilds, tests, benchmarks).

Rows of different chunks are simply added up (sums) or de-duplicated (distinct sources), so a
year's table reads a few rows per source per day instead of every tuple. Writing is atomic
(temporary file, then rename) and keyed by ``chunk_id``: re-running a chunk replaces its files,
and :func:`remove_aggregates` drops them when ingest rolls a file back.
:func:`rebuild_aggregates` recomputes everything from the flow store (for stores written before
the hook was wired, or after repair).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from iotnotice.settings import Settings

__all__ = [
    "AGGREGATE_KINDS",
    "aggregate_committed_files",
    "aggregates_path",
    "compact_aggregates",
    "rebuild_aggregates",
    "remove_aggregates",
    "update_daily_aggregates",
    "write_atomic",
]

AGGREGATE_KINDS: tuple[str, ...] = ("sources", "ports")

_DAY = "strftime(epoch_ms(time::BIGINT * 1000), '%Y-%m-%d')"
_SQL = {
    "sources": f"""
        SELECT {_DAY} AS date, src_ip, src_ip6,
               sum(packet_cnt)::BIGINT AS packets, sum(mirai_cnt)::BIGINT AS mirai
        FROM chunk GROUP BY ALL""",
    "ports": f"""
        SELECT {_DAY} AS date, protocol, dst_port,
               sum(packet_cnt)::BIGINT AS packets, count(*)::BIGINT AS flows
        FROM chunk GROUP BY ALL""",
}


def aggregates_path(settings: Settings) -> Path:
    """Root folder of the daily aggregates."""
    return settings.data_path / "aggregates"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _aggregate(con: duckdb.DuckDBPyConnection, kind: str) -> pa.Table:
    return con.sql(_SQL[kind]).to_arrow_table()


def _write_chunk(root: Path, table: pa.Table, sensor: str, chunk_id: str) -> int:
    con = duckdb.connect()
    con.register("chunk", table)
    written = 0
    for kind in AGGREGATE_KINDS:
        result = _aggregate(con, kind)
        for day in result.column("date").unique().to_pylist():
            part = result.filter(pc.equal(result.column("date"), day)).drop_columns("date")
            folder = root / kind / f"sensor={sensor}" / f"date={day}"
            write_atomic(part, folder / f"{chunk_id}.parquet")
            written += 1
    con.close()
    return written


def update_daily_aggregates(settings: Settings, table: pa.Table, sensor: str, chunk_id: str) -> int:
    """Aggregate one flow-tuple chunk (FLOW_TUPLE columns) per day; returns files written."""
    return _write_chunk(aggregates_path(settings), table, sensor, chunk_id)


def remove_aggregates(settings: Settings, chunk_id: str) -> int:
    """Delete every aggregate file of one chunk (a glob such as ``<ingest-id>-*`` works too)."""
    removed = 0
    for path in aggregates_path(settings).glob(f"*/sensor=*/date=*/{chunk_id}.parquet"):
        path.unlink()
        removed += 1
    return removed


_NEEDED = ["time", "src_ip", "src_ip6", "protocol", "dst_port", "packet_cnt", "mirai_cnt"]


def aggregate_committed_files(
    settings: Settings, sensor: str, ingest_id: str, paths: list[Path]
) -> int:
    """The ingest hook: aggregate the flow files one ingest just committed; files written.

    Stale aggregates of an earlier run of the same ingest id are removed first, and each file's
    aggregates are keyed by the file's stem (``<ingest-id>-<n>``), so re-ingesting never doubles.
    """
    remove_aggregates(settings, f"{ingest_id}-*")
    written = 0
    for path in paths:
        table = pq.read_table(path, columns=_NEEDED)
        written += update_daily_aggregates(settings, table, sensor, path.stem)
    return written


def compact_aggregates(settings: Settings) -> int:
    """Rebuild stale monthly source sets (call once after a batch of ingests); sets built."""
    from iotnotice.stats.monthsets import refresh_month_sets

    return refresh_month_sets(aggregates_path(settings))


def rebuild_aggregates(settings: Settings) -> int:
    """Recompute all aggregates from the flow store; returns files written.

    Goes file by file, exactly as the ingest hook does (each flow file is one chunk keyed by
    its stem), so memory stays bounded by the largest file and a later re-ingest of a file
    replaces precisely that file's aggregates.
    """
    root = aggregates_path(settings)
    staging = root.with_name(f".aggregates-{uuid.uuid4().hex}")
    written = 0
    for path in sorted(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet")):
        sensor = path.parent.parent.parent.name.removeprefix("sensor=")
        table = pq.read_table(path, columns=_NEEDED)
        written += _write_chunk(staging, table, sensor, path.stem)
    if staging.exists():
        from iotnotice.stats.monthsets import refresh_month_sets

        refresh_month_sets(staging)
    # Swap the whole tree so readers never see a half-rebuilt set.
    if root.exists():
        shutil.rmtree(root)
    if staging.exists():
        os.replace(staging, root)
    return written
