"""Detection benchmark: feature query + classification over a synthetic flow store.

Writes ``--rows`` flow tuples (default 100M) from ``--sources`` heavy-tailed sources into a
temporary store in the store's Parquet layout, then times ``compute_features`` (the DuckDB
query, which dominates) and a full ``run_detection`` (enrichment, rules, hosts table). Prints
flow tuples/s and peak resident memory. Target (issue 4): >= 20M flow tuples/s on 2 cores.

    .venv/bin/python benchmarks/detect.py [--rows 100000000] [--sources 200000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from iotnotice.db import connect
from iotnotice.detect import run_detection
from iotnotice.detect.features import compute_features
from iotnotice.detect.flows import open_flows
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import load_settings
from iotnotice.store.sensors import add_sensor

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
    arrays = [pa.array(cols[c.name]) if c.name in cols else pa.nulls(n, c.type) for c in FLOW_TUPLE]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(FLOW_TUPLE))


def write_store(root: Path, rows: int, n_sources: int, chunk: int = 5_000_000) -> None:
    rng = np.random.default_rng(1)
    sources = rng.integers(0x01000000, 0xDF000000, n_sources, dtype=np.uint64).astype(np.uint32)
    written = 0
    part = 0
    while written < rows:
        n = min(chunk, rows - written)
        hour = part % 24
        folder = root / "sensor=bench" / "date=2026-11-01" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            _chunk(rng, n, sources, hour), folder / f"bench-{part}.parquet", compression="zstd"
        )
        written += n
        part += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--sources", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, default=None, help="Reuse/keep the store here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="iotnotice-bench-"))
    settings = load_settings(environ={}, data_dir=str(base))
    if not any(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet")):
        t = time.perf_counter()
        write_store(settings.flows_path, args.rows, args.sources)
        print(f"wrote {args.rows:,} flow tuples in {time.perf_counter() - t:.1f} s")
    engine = connect(settings)
    add_sensor(engine, "bench", ["203.0.113.0/24"])
    con = open_flows(settings)
    rows = con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
    t = time.perf_counter()
    feats = compute_features(con, settings, 256)
    feat_s = time.perf_counter() - t
    print(
        f"features: {rows:,} flow tuples, {len(feats):,} sources in {feat_s:.2f} s "
        f"= {rows / feat_s / 1e6:.1f} M flow tuples/s"
    )
    con.close()
    t = time.perf_counter()
    summary = run_detection(settings, engine)
    total = time.perf_counter() - t
    print(
        f"run_detection: {total:.2f} s = {rows / total / 1e6:.1f} M flow tuples/s; "
        f"classes {summary.by_class}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB (duckdb_memory_limit {settings.duckdb_memory_limit})")


if __name__ == "__main__":
    main()
