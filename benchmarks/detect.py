"""Detection benchmark: the feature query and a whole run_detection over a synthetic flow store.

Writes ``--rows`` flow tuples (default 100M) from ``--sources`` heavy-tailed IPv4 sources into a
store in the store's Parquet layout (``write_flow_file``; rows in (hour, source, destination)
order within each file, as ingest writes them), reads the files once to warm the page cache,
then measures, in this order and in one process:

1. peer: plain DuckDB ``SELECT src_ip, count(*), count(DISTINCT dst_ip) ... GROUP BY src_ip``
   over the same files (what one exact distinct count per source costs on its own);
2. ``compute_features``: the whole feature query (every counter, distinct destinations and
   ports, TTL mode, header sample, response windows) -> flow tuples scanned per second;
3. ``run_detection``: features + IP data + rules + evidence + replacing the hosts table
   (SQLite), end to end -> flow tuples per second.

Rates are flow tuples in the store divided by wall-clock seconds; the process's CPU seconds
(all threads) are printed too, as they vary less than wall time on a shared machine. Peak
memory is the process's peak resident set (DuckDB's buffers are capped by
``duckdb_memory_limit``). Target (issue 4): >= 20M flow tuples/s on the 2-core build machine.

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

from iotnotice.db import connect
from iotnotice.detect import run_detection
from iotnotice.detect.features import compute_features
from iotnotice.detect.flows import open_flows
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import load_settings
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


def write_store(root: Path, rows: int, n_sources: int, chunk: int = 4_000_000) -> None:
    rng = np.random.default_rng(1)
    sources = rng.integers(0x01000000, 0xDF000000, n_sources, dtype=np.uint64).astype(np.uint32)
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


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


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
    if not list_sensors(engine):
        add_sensor(engine, "bench", ["203.0.113.0/24"])
    con = open_flows(settings)
    rows = con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
    print(f"store: {rows:,} flow tuples; duckdb_memory_limit {settings.duckdb_memory_limit}")
    # Read every file's bytes once, so no timing below includes disk reads of a cold page cache
    # (plain reads: decoding them here would raise the process's peak memory).
    t = time.perf_counter()
    for path in settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet"):
        with path.open("rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"page-cache warm-up: {time.perf_counter() - t:.2f} s (not counted)")

    t, c = time.perf_counter(), _cpu()
    con.sql(_PEER).to_arrow_table()
    peer_s, peer_c = time.perf_counter() - t, _cpu() - c
    print(
        f"peer (DuckDB count(DISTINCT dst_ip) per source): {peer_s:.2f} s = {_rate(rows, peer_s)}"
        f"; {peer_c:.1f} CPU s"
    )

    t, c = time.perf_counter(), _cpu()
    feats = compute_features(con, settings, 256)
    feat_s, feat_c = time.perf_counter() - t, _cpu() - c
    con.close()
    print(
        f"compute_features: {len(feats):,} sources in {feat_s:.2f} s = {_rate(rows, feat_s)} "
        f"({feat_s / peer_s:.1f}x the peer's time); {feat_c:.1f} CPU s "
        f"({feat_c / peer_c:.1f}x the peer's); peak RSS {_peak_mib():.0f} MiB"
    )

    t, c = time.perf_counter(), _cpu()
    summary = run_detection(settings, engine)
    total, total_c = time.perf_counter() - t, _cpu() - c
    print(
        f"run_detection (end to end): {total:.2f} s = {_rate(rows, total)} "
        f"({total / peer_s:.1f}x the peer's time); {total_c:.1f} CPU s "
        f"({total_c / peer_c:.1f}x the peer's); classes {summary.by_class}"
    )
    print(f"peak RSS: {_peak_mib():.0f} MiB")


_PEER = "SELECT src_ip, count(*), count(DISTINCT dst_ip) FROM flows GROUP BY src_ip"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:.2f} M flow tuples/s"


if __name__ == "__main__":
    main()
