"""Loaded logs kept as Parquet under ``<data_dir>/isp/logs/<kind>/<content hash>.parquet``.

Loading a file twice is a no-op (same content, same name). :func:`load_intervals` gathers every
loaded file into one interval table; RADIUS sessions are rebuilt there from the records of all
files together, because a session's Start and Stop often sit in different rotated files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from iotnotice.errors import InputError
from iotnotice.isp.logs._columns import INTERVAL_SCHEMA
from iotnotice.isp.logs.cgnat import parse_cgnat_log
from iotnotice.isp.logs.dhcpd import parse_dhcpd_leases
from iotnotice.isp.logs.kea import parse_kea_leases
from iotnotice.isp.logs.radius import RECORD_SCHEMA, parse_radius_detail, radius_sessions
from iotnotice.settings import Settings

__all__ = ["KINDS", "LoadResult", "load_intervals", "load_logs", "logs_path"]

KINDS: Mapping[str, Callable[[Path], pa.Table]] = {
    "radius": parse_radius_detail,
    "dhcpd": parse_dhcpd_leases,
    "kea": parse_kea_leases,
    "cgnat": parse_cgnat_log,
}


@dataclass(frozen=True)
class LoadResult:
    """One log file: its kind, rows kept, and whether it was new."""

    path: Path
    kind: str
    rows: int
    status: str  # 'loaded' | 'skipped'


def logs_path(settings: Settings) -> Path:
    return settings.data_path / "isp" / "logs"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    return h.hexdigest()[:32]


def load_logs(settings: Settings, kind: str, paths: Sequence[Path]) -> list[LoadResult]:
    """Parse log files of one kind and keep them (atomic write; known content is skipped)."""
    parse = KINDS[kind]
    folder = logs_path(settings) / kind
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for path in map(Path, paths):
        target = folder / f"{_digest(path)}.parquet"
        if target.exists():
            results.append(LoadResult(path, kind, pq.read_metadata(target).num_rows, "skipped"))
            continue
        table = parse(path)
        tmp = target.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
        results.append(LoadResult(path, kind, table.num_rows, "loaded"))
    return results


def _read_kind(settings: Settings, kind: str, schema: pa.Schema) -> pa.Table:
    files = sorted((logs_path(settings) / kind).glob("*.parquet"))
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=schema) for f in files])


def load_intervals(settings: Settings) -> pa.Table:
    """Every loaded log as one interval table (:data:`INTERVAL_SCHEMA`)."""
    sessions = radius_sessions(
        _read_kind(settings, "radius", RECORD_SCHEMA), int(settings.isp_radius_timeout)
    )
    others = [_read_kind(settings, k, INTERVAL_SCHEMA) for k in ("dhcpd", "kea", "cgnat")]
    return pa.concat_tables([sessions, *others])
