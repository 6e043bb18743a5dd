"""Ingest: manifest, idempotency, sensor prefixes, damage, and atomicity after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pcapbuild import compress, ethernet, ip4, ipv4, pcap_bytes, tcp, udp, write
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IngestFile
from iotnotice.errors import NotFoundError
from iotnotice.settings import Settings
from iotnotice.store.ingest import ingest_files
from iotnotice.store.query import connect_duckdb
from iotnotice.store.sensors import add_sensor

T0 = 1_717_200_000  # 2024-06-01 00:00:00 UTC


def capture(tmp_path: Path, name: str = "a.pcap", n: int = 600, start: float = T0) -> Path:
    """n packets: 2/3 to 203.0.113.0/24 (Mirai SYNs), 1/3 to 198.51.100.0/24 (UDP)."""
    recs = []
    for i in range(n):
        if i % 3:
            dst = f"203.0.113.{i % 256}"
            pkt = ipv4(f"192.0.2.{i % 7}", dst, tcp(dport=23, seq=ip4(dst)), ttl=52)
        else:
            pkt = ipv4("192.0.2.99", f"198.51.100.{i % 256}", udp(), proto=17)
        recs.append((start + i * 12.5, ethernet(pkt)))
    return write(tmp_path / name, pcap_bytes(recs))


def flow_files(settings: Settings) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in settings.flows_path.rglob("*.parquet")}


def stored_packets(settings: Settings) -> int:
    con = connect_duckdb(settings)
    return int(con.execute("SELECT coalesce(sum(packet_cnt), 0) FROM flows").fetchone()[0])  # type: ignore[index]


def test_ingest_writes_partitions_and_manifest(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Flows land in sensor/date/hour partitions; the manifest records hash, counts, time range."""
    add_sensor(engine, "demo", ["203.0.113.0/24"])
    path = capture(tmp_path)
    [res] = ingest_files(settings, engine, [path], sensor="demo")
    assert (res.status, res.packets, res.stored_packets, res.outside_packets) == (
        "ingested",
        600,
        400,
        200,
    )
    files = sorted(flow_files(settings))
    hours = {f.parent.name for f in files}
    assert hours == {"hour=00", "hour=01", "hour=02"}  # 600 x 12.5 s = 2h05m
    assert all(f.parts[-4] == "sensor=demo" and f.parts[-3] == "date=2024-06-01" for f in files)
    assert all(f.name.startswith(res.sha256[:16] + "-") for f in files)
    assert sum(pq.read_metadata(f).num_rows for f in files) == res.flow_rows
    with session_scope(engine) as s:
        row = s.scalars(select(IngestFile)).one()
        assert (row.outcome, row.sha256, row.packets, row.outside_packets) == (
            "ok",
            res.sha256,
            600,
            200,
        )
        assert row.size_bytes == path.stat().st_size
        assert row.first_ts is not None and row.first_ts.timestamp() == T0
        assert row.last_ts is not None and row.last_ts.timestamp() == T0 + 599 * 12.5
    assert stored_packets(settings) == 400
    assert not list((settings.data_path / "tmp").iterdir())


def test_same_content_twice_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Ingesting the same content again (even renamed or compressed twin aside) is skipped."""
    path = capture(tmp_path)
    first = ingest_files(settings, engine, [path])
    before = flow_files(settings)
    copy = write(tmp_path / "renamed.pcap", path.read_bytes())
    again = ingest_files(settings, engine, [path, copy])
    assert [r.status for r in first + again] == ["ingested", "skipped", "skipped"]
    assert again[0].packets == 600
    assert flow_files(settings) == before
    assert stored_packets(settings) == 600
    gz = write(tmp_path / "a.pcap.gz", compress(path.read_bytes(), "gzip"))
    assert ingest_files(settings, engine, [gz])[0].status == "ingested"  # other bytes, other file


def test_default_sensor_keeps_everything(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Without a sensor every packet is stored under sensor=default."""
    [res] = ingest_files(settings, engine, [capture(tmp_path)])
    assert (res.stored_packets, res.outside_packets) == (600, 0)
    con = connect_duckdb(settings)
    assert con.sql("SELECT DISTINCT sensor FROM flows").fetchall() == [("default",)]


def test_unknown_sensor(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """Naming a sensor that does not exist is an error before any work."""
    with pytest.raises(NotFoundError):
        ingest_files(settings, engine, [capture(tmp_path)], sensor="nowhere")
    assert flow_files(settings) == {}


def test_damaged_file_keeps_good_packets_and_others_go_on(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A cut file keeps what came before the damage; bad and missing files do not stop the rest."""
    full = capture(tmp_path, "full.pcap").read_bytes()
    damage_at = capture(tmp_path, "first100.pcap", n=100).stat().st_size
    cut = write(tmp_path / "cut.pcap", full[: damage_at + 5])
    junk = write(tmp_path / "junk.pcap", b"GET / HTTP/1.1\r\n\r\n" * 10)
    good = capture(tmp_path, "good.pcap", n=30, start=T0 + 86400)
    results = ingest_files(settings, engine, [cut, junk, tmp_path / "missing.pcap", good])
    assert [r.status for r in results] == ["damaged", "failed", "failed", "ingested"]
    assert results[0].packets == 100
    assert f"cut.pcap at byte {damage_at}" in results[0].error
    assert "junk.pcap" in results[1].error and "not a pcap" in results[1].error
    assert "no such file" in results[2].error
    assert stored_packets(settings) == 130
    with session_scope(engine) as s:
        outcomes = sorted(s.scalars(select(IngestFile.outcome)).all())
    assert outcomes == ["damaged", "failed", "ok"]


_KILL_AFTER_FIRST_CHUNK = """
import os, signal, sys
from pathlib import Path
from iotnotice.db import connect
from iotnotice.settings import load_settings
from iotnotice.store.ingest import ingest_files
settings = load_settings(environ={}, data_dir=sys.argv[1], chunk_packets=200)
engine = connect(settings)
def progress(path, done, total):
    if done < total:
        os.kill(os.getpid(), signal.SIGKILL)
ingest_files(settings, engine, [Path(sys.argv[2])], progress=progress)
"""


def test_kill_9_mid_file_leaves_nothing_and_rerun_ingests_fully(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A process killed mid-file leaves no rows; the next run ingests the file exactly once."""
    path = capture(tmp_path, n=1000)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_FIRST_CHUNK, str(settings.data_path), str(path)],
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL
    assert flow_files(settings) == {}
    assert stored_packets(settings) == 0
    with session_scope(engine) as s:
        assert s.scalars(select(IngestFile.outcome)).all() == ["running"]
    [res] = ingest_files(settings, engine, [path])
    assert res.status == "ingested"
    assert stored_packets(settings) == 1000
    assert not list((settings.data_path / "tmp").iterdir())


def test_stale_files_of_an_interrupted_commit_are_replaced(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Files left by a run killed between renaming and recording are not counted twice."""
    path = capture(tmp_path)
    [res] = ingest_files(settings, engine, [path])
    with session_scope(engine) as s:
        s.scalars(select(IngestFile)).one().outcome = "running"  # as if killed before the commit
    [again] = ingest_files(settings, engine, [path])
    assert again.status == "ingested"
    assert stored_packets(settings) == 600
    assert os.path.exists(settings.flows_path)
    assert res.flow_rows == again.flow_rows
