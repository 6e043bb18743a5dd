"""Time the yearly statistics table from daily aggregates vs. a full flow scan.

Writes a synthetic year of flow tuples (default 100M rows over 365 days, sources drawn from a
pool of 300k addresses) as the store's Parquet layout, feeds every file through the ingest
hook (``aggregate_committed_files``), compacts the month sets once, then times
``statistics(by='year')`` both ways.

    .venv/bin/python benchmarks/stats.py [--rows N] [--sources N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from iotnotice.db import connect
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import load_settings
from iotnotice.stats import aggregate_committed_files, compact_aggregates, statistics
from iotnotice.store.sensors import add_sensor
from iotnotice.store.writer import write_flow_file

YEAR_START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def _day_table(rng: np.random.Generator, day: int, rows: int, pool: np.ndarray) -> pa.Table:
    cols: dict[str, np.ndarray] = {
        "time": (YEAR_START + day * 86400 + rng.integers(0, 1440, rows) * 60).astype(np.int64),
        "src_ip": rng.choice(pool, rows),
        "dst_ip": rng.integers(0xCB007100, 0xCB007200, rows, dtype=np.uint32),
        "src_port": rng.integers(1024, 65535, rows, dtype=np.uint16),
        "dst_port": rng.choice(np.array([23, 2323, 80, 8080, 445, 22, 5555], np.uint16), rows),
        "protocol": rng.choice(np.array([6, 6, 6, 17, 1], np.uint8), rows),
        "packet_cnt": rng.integers(1, 4, rows, dtype=np.uint32),
    }
    arrays = []
    for col in FLOW_TUPLE:
        if col.name in cols:
            arrays.append(pa.array(cols[col.name], type=col.type))
        elif col.nullable:
            arrays.append(pa.nulls(rows, col.type))
        else:
            arrays.append(pa.array(np.zeros(rows, col.type.to_pandas_dtype()), type=col.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(FLOW_TUPLE))


def build(root: Path, rows: int, sources: int) -> None:
    settings = load_settings(environ={}, data_dir=str(root))
    engine = connect(settings)
    add_sensor(engine, "bench", ["203.0.113.0/24"], since=datetime(2025, 1, 1, tzinfo=UTC))
    rng = np.random.default_rng(1)
    pool = rng.integers(0x01000000, 0xDF000000, sources, dtype=np.uint32)
    per_day = rows // 365
    for day in range(365):
        moment = datetime.fromtimestamp(YEAR_START + day * 86400, UTC)
        path = settings.flows_path / "sensor=bench" / f"date={moment:%Y-%m-%d}" / "hour=00"
        path.mkdir(parents=True, exist_ok=True)
        file = path / f"bench{day:03d}-0.parquet"
        write_flow_file(_day_table(rng, day, per_day, pool), file)
        aggregate_committed_files(settings, "bench", f"bench{day:03d}", [file])
    compact_aggregates(settings)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--sources", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="iotnotice-bench-"))
    if not (root / "flows").exists():
        started = time.perf_counter()
        build(root, args.rows, args.sources)
        print(f"built {args.rows:,} flow tuples in {time.perf_counter() - started:.1f} s at {root}")
    settings = load_settings(environ={}, data_dir=str(root))
    engine = connect(settings)
    seconds = {}
    for source in ("aggregates", "flows"):
        started = time.perf_counter()
        rows = statistics(settings, engine, "year", source=source)  # type: ignore[arg-type]
        seconds[source] = time.perf_counter() - started
        print(f"{source:>10}: {seconds[source]:.3f} s  {rows}")
    # The peer is the same question answered by DuckDB scanning every flow tuple.
    print(
        f"aggregates answer in 1/{seconds['flows'] / seconds['aggregates']:.0f} of the scan's time"
    )


if __name__ == "__main__":
    main()
