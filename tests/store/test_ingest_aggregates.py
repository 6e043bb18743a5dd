"""The daily aggregates ingest computes in memory equal those re-read from the flow files."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
from pcapbuild import ethernet, ip4, ipv4, ipv6, pcap_bytes, tcp, udp, write

from iotnotice.db import connect
from iotnotice.settings import load_settings
from iotnotice.stats.aggregates import aggregate_committed_files, aggregates_path
from iotnotice.store.ingest import ingest_files

T0 = 1_700_089_200  # 2023-11-15 23:00 UTC: the capture crosses midnight (two days, 3 hours)


def _capture(path: Path) -> Path:
    rng = random.Random(7)
    sources4 = [f"198.51.{rng.randint(0, 3)}.{rng.randint(0, 255)}" for _ in range(60)]
    sources6 = [f"2001:db8::{rng.randint(0, 20):x}" for _ in range(10)]
    records = []
    for k in range(6000):
        # IPv6 only in the first hour: later hours take the IPv4-only path.
        kind = rng.random() if k < 2400 else 1.0
        if kind < 0.2:
            payload = tcp(sport=rng.choice([1, 2]), dport=rng.choice([23, 2323]))
            frame = ethernet(ipv6(rng.choice(sources6), "2001:db8:1::1", payload))
        elif kind < 0.25:
            frame = ethernet(ipv6(rng.choice(sources6), "2001:db8:1::2", udp(), next_header=17))
        else:
            dst = f"203.0.113.{rng.randint(0, 7)}"
            seq = ip4(dst) if rng.random() < 0.5 else 7
            payload = tcp(sport=rng.choice([40000, 40001]), dport=rng.choice([23, 80]), seq=seq)
            frame = ethernet(ipv4(rng.choice(sources4), dst, payload))
        records.append((T0 + k * 1.5, frame))
    return write(path, pcap_bytes(records))


def _snapshot(root: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect()
    out = {}
    for kind in ("sources", "ports"):
        files = sorted(str(p) for p in root.glob(f"{kind}/sensor=*/date=*/*.parquet"))
        rows = con.sql(
            f"SELECT * FROM read_parquet({files!r}, filename = true) ORDER BY ALL"
        ).fetchall()
        schema = con.sql(f"DESCRIBE SELECT * FROM read_parquet({files[:1]!r})").fetchall()
        out[kind] = [*rows, *schema]
    return out


def test_ingest_aggregates_equal_a_rescan(tmp_path: Path) -> None:
    """IPv4 and IPv6 sources over three hours and two days: same files, rows and types."""
    settings = load_settings(None, data_dir=str(tmp_path / "data")).replace(chunk_packets=700)
    engine = connect(settings)
    [result] = ingest_files(settings, engine, [_capture(tmp_path / "c.pcap")])
    assert result.status == "ingested" and result.stored_packets == 6000
    root = aggregates_path(settings)
    in_memory = _snapshot(root)
    days = {p.parent.name for p in root.glob("sources/sensor=*/date=*/*.parquet")}
    assert days == {"date=2023-11-15", "date=2023-11-16"}
    flow_files = sorted(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet"))
    assert len(flow_files) >= 3
    shutil.rmtree(root / "sources")
    shutil.rmtree(root / "ports")
    aggregate_committed_files(settings, "default", result.sha256[:16], flow_files)
    assert _snapshot(root) == in_memory
