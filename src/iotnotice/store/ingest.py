"""Ingest captures into the flow store: idempotent per file content, atomic per file.

For each file: hash it (SHA-256), skip it when the same content was already ingested for the
sensor, otherwise decode it chunk by chunk, drop (and count) packets outside the sensor's
prefixes, aggregate flow tuples, and commit the Parquet files and the manifest row together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, select

from iotnotice.capture.reader import PacketChunk, read_chunks
from iotnotice.db import session_scope
from iotnotice.db.models import IngestFile, utcnow
from iotnotice.errors import InputError
from iotnotice.settings import Settings
from iotnotice.store.flows import aggregate
from iotnotice.store.hashing import file_sha256, prefetch
from iotnotice.store.sensors import SensorInfo, ensure_default_sensor, get_sensor, inside_mask
from iotnotice.store.writer import FlowWriter

__all__ = ["IngestResult", "Progress", "file_sha256", "ingest_file", "ingest_files"]

# progress(path, bytes done, bytes total)
Progress = Callable[[Path, int, int], None]


@dataclass
class IngestResult:
    """What happened to one input file."""

    path: Path
    status: str  # ingested | skipped | damaged | failed
    packets: int = 0
    stored_packets: int = 0
    outside_packets: int = 0
    non_ip_packets: int = 0
    flow_rows: int = 0
    error: str = ""
    sha256: str = ""


@dataclass
class _Counts:
    frames: int = 0
    stored: int = 0
    outside: int = 0
    non_ip: int = 0
    first_ns: int | None = None
    last_ns: int | None = None


def ingest_files(
    settings: Settings,
    engine: Engine,
    paths: Iterable[Path],
    sensor: str | None = None,
    progress: Progress | None = None,
) -> list[IngestResult]:
    """Ingest each file for ``sensor`` (default: the catch-all sensor); one result per file."""
    from iotnotice.stats.aggregates import compact_aggregates

    paths = [Path(p) for p in paths]
    # Hash the files in a thread, each ahead of its turn (hashing releases the GIL).
    prefetch(paths)
    info = get_sensor(engine, sensor) if sensor else ensure_default_sensor(engine)
    results = [ingest_file(settings, engine, Path(p), info, progress) for p in paths]
    if any(r.status in ("ingested", "damaged") for r in results):
        # Monthly distinct-source sets are rebuilt once per batch, not per file.
        compact_aggregates(settings)
    return results


def _failed(path: Path, message: str) -> IngestResult:
    return IngestResult(path, "failed", error=str(InputError(path, message)))


def _claim(engine: Engine, path: Path, sha: str, info: SensorInfo) -> int | IngestResult:
    """Mark the manifest row of (content, sensor) running, or say it was already ingested."""
    with session_scope(engine) as session:
        row = session.scalar(
            select(IngestFile).where(IngestFile.sha256 == sha, IngestFile.sensor_id == info.id)
        )
        if row is not None and row.outcome == "ok":
            return IngestResult(
                path,
                "skipped",
                packets=row.packets,
                stored_packets=row.stored_packets,
                outside_packets=row.outside_packets,
                non_ip_packets=row.non_ip_packets,
                flow_rows=row.flow_rows,
                sha256=sha,
            )
        if row is None:
            row = IngestFile(sha256=sha, sensor_id=info.id, path=str(path))
            session.add(row)
        row.path = str(path)
        row.size_bytes = path.stat().st_size
        row.outcome = "running"
        row.error = ""
        row.started_at = utcnow()
        row.finished_at = None
        session.flush()
        return row.id


@dataclass
class _Chunk:
    """One decoded chunk reduced to its flow tuples and counters (the packets are gone)."""

    frames: int
    non_ip: int
    bytes_read: int
    packets: int
    kept: int
    first_ns: int
    last_ns: int
    parts: list[tuple[int, pa.Table, Any]]


def _reduce_chunk(
    chunk: PacketChunk, info: SensorInfo, interval: int, writer: FlowWriter
) -> _Chunk:
    """Filter one chunk to the sensor's prefixes, aggregate it into flow tuples and cut those
    into the writer's hour parts (with their statistics partials)."""
    out = _Chunk(chunk.frames, chunk.non_ip, chunk.bytes_read, len(chunk), 0, 0, 0, [])
    if len(chunk):
        ts = chunk.ts
        out.first_ns, out.last_ns = int(ts.min()), int(ts.max())
        keep = inside_mask(info.prefixes, ts, chunk.ip_version, chunk.dst_ip, chunk.dst_ip6)
        out.kept = int(np.count_nonzero(keep))
        out.parts = writer.split(aggregate(chunk, keep, interval))
    return out


def _pipelined(
    chunks: Iterator[PacketChunk], work: Callable[[PacketChunk], _Chunk]
) -> Iterator[_Chunk]:
    """``work`` applied to each chunk, the next chunk decoded and reduced in a thread meanwhile.

    The decode and aggregation kernels and the Parquet writer release the GIL, so on two cores
    decoding + aggregating chunk n+1 overlaps writing chunk n. An InputError after the last
    good chunk is raised here, in order.
    """

    def step() -> _Chunk | None:
        chunk = next(chunks, None)
        return None if chunk is None else work(chunk)

    with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
        pending = pool.submit(step)
        while (item := pending.result()) is not None:
            pending = pool.submit(step)
            yield item


def _decode_into(
    settings: Settings,
    path: Path,
    info: SensorInfo,
    writer: FlowWriter,
    progress: Progress | None,
    counts: _Counts,
) -> None:
    """Decode, filter and aggregate ``path`` into ``writer``, counting into ``counts``."""
    total = path.stat().st_size
    done = 0
    interval = int(settings.flow_interval)
    # Each chunk is reduced to a flow table (copies) before the next is decoded: reuse arrays.
    chunks = read_chunks(path, int(settings.chunk_packets), reuse=True)
    for item in _pipelined(chunks, lambda chunk: _reduce_chunk(chunk, info, interval, writer)):
        counts.frames += item.frames
        counts.non_ip += item.non_ip
        if item.packets:
            lo, hi = item.first_ns, item.last_ns
            counts.first_ns = lo if counts.first_ns is None else min(lo, counts.first_ns)
            counts.last_ns = hi if counts.last_ns is None else max(hi, counts.last_ns)
            counts.stored += item.kept
            counts.outside += item.packets - item.kept
        writer.add_parts(item.parts)
        done += item.bytes_read
        if progress is not None:
            progress(path, done, total)


def _moment(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, UTC)


def _finish(engine: Engine, row_id: int, result: IngestResult, counts: _Counts) -> None:
    with session_scope(engine) as session:
        row = session.get_one(IngestFile, row_id)
        row.packets = counts.frames
        row.stored_packets = counts.stored
        row.outside_packets = counts.outside
        row.non_ip_packets = counts.non_ip
        row.flow_rows = result.flow_rows
        row.first_ts = _moment(counts.first_ns)
        row.last_ts = _moment(counts.last_ns)
        row.outcome = {"ingested": "ok"}.get(result.status, result.status)
        row.error = result.error
        row.finished_at = utcnow()


def ingest_file(
    settings: Settings,
    engine: Engine,
    path: Path,
    info: SensorInfo,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest one file for one sensor."""
    if not path.exists():
        return _failed(path, "no such file")
    if not path.is_file():
        return _failed(path, "not a regular file")
    try:
        sha = file_sha256(path)
    except OSError as exc:
        return _failed(path, f"cannot read ({exc.strerror})")
    row_id = _claim(engine, path, sha, info)
    if isinstance(row_id, IngestResult):
        return row_id
    writer = FlowWriter(settings.flows_path, settings.data_path / "tmp", info.name, sha[:16])
    # Daily aggregates for statistics, keyed by the same ingest id (stats owns the format),
    # computed from the rows as they are written rather than by re-reading the files.
    from iotnotice.stats.ingestagg import IngestAggregator

    writer.observer = IngestAggregator(settings, info.name, writer.tmp / "aggregates")
    result = IngestResult(path, "ingested", sha256=sha)
    counts = _Counts()
    try:
        _decode_into(settings, path, info, writer, progress, counts)
    except InputError as exc:
        # Packets before the damage were aggregated already and are kept.
        result.status = "damaged" if writer.rows or (exc.offset or 0) > 0 else "failed"
        result.error = str(exc)
    except BaseException:
        writer.abort()
        with session_scope(engine) as session:
            session.get_one(IngestFile, row_id).outcome = "failed"
        raise
    if result.status == "failed":
        writer.abort()
    else:
        writer.commit()
        result.flow_rows = writer.rows
    _fill(result, counts)
    _finish(engine, row_id, result, counts)
    return result


def _fill(result: IngestResult, counts: _Counts) -> None:
    result.packets = counts.frames
    result.stored_packets = counts.stored
    result.outside_packets = counts.outside
    result.non_ip_packets = counts.non_ip
