"""`ingest --watch`: rotated files are ingested once complete, and a restart resumes cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pcapbuild import ethernet, ipv4, pcap_bytes, tcp, write
from sqlalchemy import Engine

from iotnotice.settings import Settings
from iotnotice.store.ingest import IngestResult
from iotnotice.store.query import connect_duckdb
from iotnotice.store.sensors import ensure_default_sensor
from iotnotice.store.watch import Watcher, watch

PKT = ethernet(ipv4("192.0.2.1", "203.0.113.1", tcp(dport=23)))


def records(n: int, start: int) -> bytes:
    return pcap_bytes([(start + i, PKT) for i in range(n)])


def stored(settings: Settings) -> int:
    con = connect_duckdb(settings)
    return int(con.execute("SELECT coalesce(sum(packet_cnt), 0) FROM flows").fetchone()[0])  # type: ignore[index]


def test_growing_file_waits_for_rotation(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A file still being written is left alone; once a newer file appears it is ingested whole."""
    spool = tmp_path / "spool"
    spool.mkdir()
    w = Watcher(settings, engine, spool.resolve(), ensure_default_sensor(engine), settle=3600)
    data = records(200, 1_717_200_000)
    half = len(data) // 2 + 7  # mid-record, as a capture being written looks
    (spool / "dump-0001.pcap").write_bytes(data[:half])
    assert w.poll() == []
    with (spool / "dump-0001.pcap").open("ab") as fh:
        fh.write(data[half:])
    assert w.poll() == []  # still the newest file, and it just changed
    write(spool / "dump-0002.pcap", records(50, 1_717_203_600)[:40])  # tcpdump rotated
    [first] = w.poll()
    assert (first.path.name, first.status, first.packets) == ("dump-0001.pcap", "ingested", 200)
    assert w.poll() == []
    assert stored(settings) == 200


def test_settle_time_and_restart(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """A quiet newest file is taken after the settle time; a restarted watch re-ingests nothing."""
    spool = tmp_path / "spool"
    spool.mkdir()
    write(spool / "a.pcap", records(30, 1_717_200_000))
    write(spool / "b.pcap", records(20, 1_717_200_100))
    got: list[IngestResult] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(settings, engine, spool),
        kwargs={"interval": 0.05, "settle": 0.3, "stop": stop.is_set, "on_result": got.append},
    )
    thread.start()
    deadline = time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    assert sorted((r.path.name, r.status, r.packets) for r in got) == [
        ("a.pcap", "ingested", 30),
        ("b.pcap", "ingested", 20),
    ]
    again = Watcher(settings, engine, spool.resolve(), ensure_default_sensor(engine), settle=0)
    assert again.poll() == []
    write(spool / "c.pcap", records(5, 1_717_200_200))
    assert [(r.path.name, r.packets) for r in again.poll()] == [("c.pcap", 5)]
    assert stored(settings) == 55


def test_the_watch_command_prepares_detection_partials(tmp_path: Path) -> None:
    """`iotnotice ingest --watch` builds the new flow files' detection partials after each
    capture, so the next `iotnotice detect` only merges (a real process, stopped by Ctrl-C)."""
    spool, data = tmp_path / "spool", tmp_path / "data"
    spool.mkdir()
    write(spool / "a.pcap", records(30, 1_717_200_000))
    write(spool / "b.pcap", records(20, 1_717_203_700))  # the next hour; a.pcap is complete
    cli = Path(sys.executable).with_name("iotnotice")
    cmd = [str(cli), "--data-dir", str(data), "ingest", "--watch"]
    proc = subprocess.Popen(
        [*cmd, str(spool), "--interval", "0.2", "--settle", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partials = data / "detect-partials"
    try:
        deadline = time.time() + 60
        while len(list(partials.rglob("*.sig.arrow"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    sig = sorted(p.parent.name for p in partials.rglob("*.sig.arrow"))
    assert sig == ["hour=00", "hour=01"], (out, err)  # one per flow file (UTC hours 0 and 1)
    assert "ingested" in out and "error" not in err
