"""Detection quality against the simulator's ground truth (issue 4's targets), on two runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from iotnotice.capture.simulate import simulate
from iotnotice.db import connect
from iotnotice.detect import run_detection
from iotnotice.detect.evaluate import evaluate
from iotnotice.detect.hosts import list_hosts
from iotnotice.settings import load_settings
from iotnotice.store.ingest import ingest_files
from iotnotice.store.sensors import add_sensor


@pytest.mark.parametrize(("seed", "darknet"), [(5, "203.0.113.0/24"), (13, "198.51.100.0/23")])
def test_quality_on_simulated_capture(tmp_path: Path, seed: int, darknet: str) -> None:
    """Mirai (>= 3 packets) and IoT recall, infected precision, no victims/researchers infected."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    sim = simulate(
        tmp_path / "cap.pcap",
        tmp_path / "truth.csv",
        packets=150_000,
        seed=seed,
        darknet=(darknet,),
    )
    engine = connect(settings)
    add_sensor(engine, "s", [darknet])
    assert ingest_files(settings, engine, [sim.pcap], sensor="s")[0].status == "ingested"
    run_detection(settings, engine)
    with sim.truth.open(newline="") as fh:
        truth = {r["ip"]: r for r in csv.DictReader(fh)}
    hosts = {h["ip"]: h for h in list_hosts(engine)}
    infected = {ip for ip, h in hosts.items() if h["classification"] == "infected"}

    mirai = [
        ip
        for ip, t in truth.items()
        if t["family"] == "mirai" and int(t["mirai_packets"] or 0) >= 3
    ]
    iot = [
        ip
        for ip, t in truth.items()
        if t["family"] == "iot-unknown" and int(t["darknet_packets"] or 0) >= 1
    ]
    assert len(mirai) > 100 and len(iot) > 10
    assert sum(ip in infected for ip in mirai) / len(mirai) >= 0.99
    assert sum(ip in infected for ip in iot) / len(iot) >= 0.90
    wrong = [ip for ip in infected if truth.get(ip, {}).get("label") != "infected"]
    assert len(wrong) <= 0.001 * len(infected), wrong[:5]
    never = {"backscatter", "research", "spoofed"}
    assert not [ip for ip in infected if truth.get(ip, {}).get("label") in never]
    metrics = evaluate(engine, sim.truth)
    assert metrics["research"]["recall"] == 1.0 and metrics["backscatter"]["recall"] >= 0.99
