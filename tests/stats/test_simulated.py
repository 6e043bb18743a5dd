"""Statistics of a simulated capture equal the simulator's ground truth."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from iotnotice.capture.simulate import simulate
from iotnotice.db import connect
from iotnotice.settings import load_settings
from iotnotice.stats import aggregate_committed_files, protocol_mix, statistics
from iotnotice.store.ingest import ingest_files
from iotnotice.store.sensors import add_sensor


def test_figures_equal_ground_truth(tmp_path: Path) -> None:
    """Packets, sources and protocol mix equal the truth CSV, via flow scan and aggregates."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    engine = connect(settings)
    pcap, truth = tmp_path / "t.pcap", tmp_path / "t.csv"
    simulate(pcap, truth, packets=6000, seed=5, start=datetime(2025, 3, 1, tzinfo=UTC))
    add_sensor(engine, "demo", ["203.0.113.0/24"], since=datetime(2025, 1, 1, tzinfo=UTC))
    [result] = ingest_files(settings, engine, [pcap], sensor="demo")
    assert result.status == "ingested"
    rows = [r for r in csv.DictReader(truth.open()) if int(r["darknet_packets"]) > 0]
    packets = sum(int(r["darknet_packets"]) for r in rows)
    by_protocol: Counter[str] = Counter()
    for r in rows:
        by_protocol[r["protocol"]] += int(r["darknet_packets"])

    scan = statistics(settings, engine, "year", source="flows")
    assert [(r["period"], r["packets"], r["sources"]) for r in scan] == [
        ("2025", packets, len(rows))
    ]
    assert scan[0]["monitored_addresses"] == 256
    assert scan[0]["packets_per_address"] == packets / scan[0]["monitored_addresses_avg"]
    mix = {m["protocol"]: m["packets"] for m in protocol_mix(settings, source="flows")}
    # Sources of one protocol pin it exactly; mixed sources ('tcp+udp') only add to the total.
    assert mix["icmp"] == by_protocol["icmp"] and sum(mix.values()) == packets
    assert mix["tcp"] >= by_protocol["tcp"] and mix["udp"] >= by_protocol["udp"]

    files = sorted(settings.flows_path.glob("sensor=demo/date=*/hour=*/*.parquet"))
    ingest_id = files[0].stem.rsplit("-", 1)[0]
    assert aggregate_committed_files(settings, "demo", ingest_id, files) >= 2
    assert statistics(settings, engine, "year", source="aggregates") == scan
    engine.dispose()
