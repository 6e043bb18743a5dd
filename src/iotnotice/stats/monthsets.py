"""Monthly sets of distinct sources, compacted from the daily aggregates.

Unique sources do not add up across days, so a yearly count over daily aggregates still reads
one row per source per day. A month set holds each (sensor, month)'s distinct sources once::

    <data_dir>/aggregates/month_sources/sensor=<name>/month=YYYY-MM/set.parquet

It is derived only from that month's daily ``sources`` files, and records in its Parquet
metadata which daily files (name, size, mtime) it was built from. A set whose daily files have
changed since is *stale*; readers then use that month's daily files instead, so a stale set is
slower, never wrong. :func:`refresh_month_sets` (``compact_aggregates``) rebuilds stale sets:
run it after a batch of ingests, not per file — compacting costs a read of the month's daily
files, which per hourly capture would add up during a backfill.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from iotnotice.stats.aggregates import write_atomic

__all__ = ["month_sets_fresh", "month_view", "refresh_month_sets"]

_KEY = b"iotnotice.daily_files"


def _daily_files(root: Path) -> dict[tuple[str, str], list[Path]]:
    """Daily source files per (sensor folder, month)."""
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in (root / "sources").glob("sensor=*/date=*/*.parquet"):
        groups[(path.parent.parent.name, path.parent.name[5:12])].append(path)
    return groups


def _manifest(files: list[Path]) -> list[str]:
    out = []
    for path in files:
        stat = path.stat()
        out.append(f"{path.parent.name}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return sorted(out)


def _set_path(root: Path, sensor_dir: str, month: str) -> Path:
    return root / "month_sources" / sensor_dir / f"month={month}" / "set.parquet"


def _recorded(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_KEY)
    return json.loads(raw) if raw else None


def refresh_month_sets(root: Path, months: set[str] | None = None) -> int:
    """Rebuild stale month sets (optionally only some months); returns how many were built."""
    groups = _daily_files(root)
    built = 0
    con = duckdb.connect()
    try:
        for (sensor_dir, month), files in sorted(groups.items()):
            if months is not None and month not in months:
                continue
            target = _set_path(root, sensor_dir, month)
            manifest = _manifest(files)
            if _recorded(target) == manifest:
                continue
            names = [p.as_posix() for p in files]
            table = con.sql(
                "SELECT DISTINCT src_ip, src_ip6 FROM read_parquet(?) ORDER BY src_ip",
                params=[names],
            ).to_arrow_table()
            meta = dict(table.schema.metadata or {})
            meta[_KEY] = json.dumps(manifest).encode()
            write_atomic(table.replace_schema_metadata(meta), target)
            built += 1
    finally:
        con.close()
    for stale in (root / "month_sources").glob("sensor=*/month=*/set.parquet"):
        if (stale.parent.parent.name, stale.parent.name[6:]) not in groups:
            stale.unlink()
    return built


def month_sets_fresh(root: Path) -> bool:
    """True when every (sensor, month) of the daily files has an up-to-date set."""
    groups = _daily_files(root)
    return bool(groups) and all(
        _recorded(_set_path(root, s, m)) == _manifest(files) for (s, m), files in groups.items()
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(paths: list[Path]) -> str:
    return "[" + ", ".join(_quote(p.as_posix()) for p in paths) + "]"


def month_view(con: duckdb.DuckDBPyConnection, root: Path) -> bool:
    """Create the view ``agg_month_sources`` (sensor, month, src_ip, src_ip6): up-to-date month
    sets where there are some, the daily files for the other months; False without aggregates."""
    groups = _daily_files(root)
    if not groups:
        return False
    fresh: list[Path] = []
    parts: list[str] = []
    for (sensor_dir, month), files in sorted(groups.items()):
        target = _set_path(root, sensor_dir, month)
        if _recorded(target) == _manifest(files):
            fresh.append(target)
            continue
        parts.append(
            f"SELECT {_quote(sensor_dir.removeprefix('sensor='))} AS sensor, {_quote(month)} AS "
            f"month, src_ip, src_ip6 FROM read_parquet({_file_list(files)})"
        )
    if fresh:
        parts.append(
            f"SELECT sensor, month, src_ip, src_ip6 FROM read_parquet({_file_list(fresh)}, "
            "hive_partitioning = true, hive_types = {'sensor': VARCHAR, 'month': VARCHAR})"
        )
    con.execute("CREATE OR REPLACE VIEW agg_month_sources AS " + " UNION ALL ".join(parts))
    return True
