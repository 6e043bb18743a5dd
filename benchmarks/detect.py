"""Detection benchmark: the feature query and a whole run_detection over a synthetic flow store.

Writes ``--rows`` flow tuples (default 100M) from ``--sources`` heavy-tailed IPv4 sources into a
store in the store's Parquet layout (``write_flow_file``; rows in (hour, source, destination)
order within each file, as ingest writes them), reads the files once to warm the page cache,
then measures, each in a child process of its own (its own CPU time and peak memory):

1. peer: plain DuckDB ``SELECT src_ip, count(*), count(DISTINCT dst_ip) ... GROUP BY src_ip``
   over the same files (what one exact distinct count per source costs on its own);
2. ``compute_features`` cold (the partial-aggregate cache emptied: every flow file's partials
   and the date's rollup are built, see detect.partials and detect.rollups) and warm (the
   cached rollup merged);
3. ``run_detection`` end to end (features, IP data, rules, evidence, replacing the SQLite hosts
   table), cold and warm;
4. ``run_detection`` after one more flow file landed in the date (an hourly run on the current
   day: the new file's partials built and merged with the date's rollup), and again as after
   ``ingest --watch`` built them (cached: the run only merges).

Rates are flow tuples in the store divided by the phase's wall-clock seconds (including the
child's start, a fork); CPU seconds (all threads) are printed too, as they vary less than wall
time on a shared machine. Target (issue 4): >= 20M flow tuples/s on the 2-core build machine.

    .venv/bin/python benchmarks/detect.py [--rows 100000000] [--sources 200000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from iotnotice.db import connect
from iotnotice.detect import run_detection
from iotnotice.detect.features import compute_features
from iotnotice.detect.run import monitored_addresses
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings, load_settings
from iotnotice.store.query import connect_duckdb
from iotnotice.store.sensors import add_sensor, list_sensors
from iotnotice.store.writer import write_flow_file

T0 = 1_793_491_200  # 2026-11-01 00:00 UTC
DARKNET = 0xCB007100  # 203.0.113.0/24


def _chunk(rng: np.random.Generator, n: int, sources: np.ndarray, hour: int) -> pa.Table:
    weights = rng.zipf(1.3, n) % len(sources)
    src = sources[weights]
    mirai = (src % 7 == 0).astype(np.uint32)
    cols = {
        "time": (T0 + hour * 3600 + rng.integers(0, 60, n) * 60).astype(np.int64),
        "src_ip": src,
        "dst_ip": (DARKNET + rng.integers(0, 256, n)).astype(np.uint32),
        "src_port": rng.integers(1024, 65535, n).astype(np.uint16),
        "dst_port": np.where(rng.random(n) < 0.6, 23, rng.integers(1, 65535, n)).astype(np.uint16),
        "protocol": np.full(n, 6, np.uint8),
        "ttl": rng.integers(40, 64, n).astype(np.uint8),
        "tcp_flags": np.where(rng.random(n) < 0.95, 2, 18).astype(np.uint8),
        "ip_len": np.full(n, 40, np.uint16),
        "tcp_synlen": np.where(mirai > 0, 20, 24).astype(np.uint8),
        "tcp_synwinlen": np.full(n, 5840, np.uint16),
        "packet_cnt": np.ones(n, np.uint32),
        "mirai_cnt": mirai,
        "masscan_cnt": np.zeros(n, np.uint32),
        "zmap_cnt": np.zeros(n, np.uint32),
        "spoofed_cnt": np.zeros(n, np.uint32),
        "quirk_cnt": np.zeros(n, np.uint32),
    }
    # The store writes rows in (hour, source, destination) order (store.flows.aggregate); so do we.
    order = np.lexsort((cols["dst_ip"], cols["src_ip"]))
    arrays = [
        pa.array(cols[c.name][order]) if c.name in cols else pa.nulls(n, c.type) for c in FLOW_TUPLE
    ]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(FLOW_TUPLE))


def _sources(rng: np.random.Generator, n_sources: int) -> np.ndarray:
    return rng.integers(0x01000000, 0xDF000000, n_sources, dtype=np.uint64).astype(np.uint32)


def write_store(root: Path, rows: int, n_sources: int, chunk: int = 4_000_000) -> None:
    rng = np.random.default_rng(1)
    sources = _sources(rng, n_sources)
    written = 0
    part = 0
    while written < rows:
        n = min(chunk, rows - written)
        hour = part % 24
        folder = root / "sensor=bench" / "date=2026-11-01" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        write_flow_file(_chunk(rng, n, sources, hour), folder / f"bench-{part}.parquet")
        written += n
        part += 1


@dataclass
class Phase:
    """Wall and CPU seconds and peak RSS of one phase, run in a child process of its own."""

    wall: float
    cpu: float
    peak_mib: float
    info: dict[str, Any]


def in_child(fn: Callable[[], dict[str, Any]]) -> Phase:
    """Run ``fn`` in a forked child: its own CPU time and peak memory, not the parent's."""
    read, write = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            info = fn()
        except BaseException as exc:  # report, never fall back into the parent's code
            info = {"error": repr(exc)}
        with os.fdopen(write, "w") as out:
            json.dump(info, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        info = json.load(inp)
    _, _, usage = os.wait4(pid, 0)
    if "error" in info:
        sys.exit(f"phase failed: {info['error']}")
    wall = time.perf_counter() - start
    return Phase(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, info)


def _peer(settings: Settings) -> dict[str, Any]:
    con = connect_duckdb(settings)
    return {"sources": con.sql(_PEER).to_arrow_table().num_rows}


def _features(settings: Settings) -> dict[str, Any]:
    monitored = monitored_addresses(connect(settings), None, None)
    return {"sources": len(compute_features(settings, monitored))}


def _detect(settings: Settings) -> dict[str, Any]:
    summary = run_detection(settings, connect(settings))
    return {"sources": summary.sources, "classes": summary.by_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--sources", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, default=None, help="Reuse/keep the store here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="iotnotice-bench-"))
    settings = load_settings(environ={}, data_dir=str(base))
    files = list(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet"))
    if not files:
        t = time.perf_counter()
        write_store(settings.flows_path, args.rows, args.sources)
        print(f"wrote {args.rows:,} flow tuples in {time.perf_counter() - t:.1f} s")
        files = list(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet"))
    engine = connect(settings)
    if not list_sensors(engine):
        add_sensor(engine, "bench", ["203.0.113.0/24"])
    engine.dispose()
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    size = sum(f.stat().st_size for f in files)
    print(f"store: {rows:,} flow tuples in {len(files)} files, {size / 2**20:.0f} MiB")
    # Read every file's bytes once, so no timing below includes disk reads of a cold page cache.
    t = time.perf_counter()
    for path in files:
        with path.open("rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"page-cache warm-up: {time.perf_counter() - t:.2f} s (not counted)")

    peer = in_child(lambda: _peer(settings))
    print(
        f"peer, DuckDB count(DISTINCT dst_ip) per source: {peer.wall:.2f} s = "
        f"{_rate(rows, peer.wall)}; {peer.cpu:.1f} CPU s; peak RSS {peer.peak_mib:.0f} MiB"
    )
    phases = [
        ("compute_features, cold (builds every file's partials and the rollup)", _features, True),
        ("compute_features, warm (partials cached)", _features, False),
        ("run_detection end to end, cold", _detect, True),
        ("run_detection end to end, warm", _detect, False),
    ]
    for name, fn, cold in phases:
        if cold:
            shutil.rmtree(settings.data_path / "detect-partials", ignore_errors=True)
        run = in_child(lambda fn=fn: fn(settings))  # type: ignore[misc]
        print(
            f"{name}: {run.wall:.2f} s = {_rate(rows, run.wall)} ({run.wall / peer.wall:.1f}x "
            f"the peer's time); {run.cpu:.1f} CPU s; peak RSS {run.peak_mib:.0f} MiB"
        )
    print(f"classes: {run.info['classes']} ({run.info['sources']:,} sources)")
    partials = [p for p in (settings.data_path / "detect-partials").rglob("*") if p.is_file()]
    cached = sum(p.stat().st_size for p in partials)
    print(f"partials cache: {cached / 2**20:.0f} MiB ({cached / size:.0%} of the flow store)")
    # An hourly run on the current day: one more file in the date (removed afterwards; the
    # next run prunes its partials). First as it lands, then as after `ingest --watch` built
    # its partials (the second run finds them cached).
    extra = (
        settings.flows_path / "sensor=bench" / "date=2026-11-01" / "hour=23" / "bench-new.parquet"
    )
    sources = _sources(np.random.default_rng(1), args.sources)  # the store's sources
    write_flow_file(_chunk(np.random.default_rng(2), _EXTRA_ROWS, sources, 23), extra)
    more = rows + _EXTRA_ROWS
    try:
        for name in ("its partials built by the run", "its partials built by ingest --watch"):
            run = in_child(lambda: _detect(settings))
            print(
                f"run_detection, one more {_EXTRA_ROWS:,}-row file in the date ({name}): "
                f"{run.wall:.2f} s = {_rate(more, run.wall)} ({more:,} rows); {run.cpu:.1f} "
                f"CPU s; peak RSS {run.peak_mib:.0f} MiB"
            )
    finally:
        extra.unlink()


_EXTRA_ROWS = 4_000_000
_PEER = "SELECT src_ip, count(*), count(DISTINCT dst_ip) FROM flows GROUP BY src_ip"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:.2f} M flow tuples/s"


if __name__ == "__main__":
    main()
