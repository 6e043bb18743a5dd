"""The DuckDB view over the flow store, empty or not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pcapbuild import ethernet, ipv4, pcap_bytes, tcp, write
from sqlalchemy import Engine

from iotnotice.schemas import FLOW_TUPLE
from iotnotice.settings import Settings
from iotnotice.store.ingest import ingest_files
from iotnotice.store.query import connect_duckdb


def test_empty_store_has_the_view(settings: Settings) -> None:
    """With nothing ingested, `flows` exists with every column and no rows."""
    con = connect_duckdb(settings)
    cols = [r[0] for r in con.execute("DESCRIBE flows").fetchall()]
    assert cols == [c.name for c in FLOW_TUPLE] + ["sensor", "date", "hour"]
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (0,)


def test_view_reads_partitions_with_settings(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Stored flows are queryable with typed hive columns; limits come from the settings."""
    pkt = ethernet(ipv4("192.0.2.1", "203.0.113.1", tcp(dport=23)))
    path = write(tmp_path / "q.pcap", pcap_bytes([(1_717_203_600 + i, pkt) for i in range(90)]))
    ingest_files(settings, engine, [path])
    con = connect_duckdb(settings.replace(duckdb_threads=1, duckdb_memory_limit="256MB"))
    rows = con.execute(
        "SELECT sensor, date, hour, time, sum(packet_cnt) FROM flows GROUP BY ALL ORDER BY time"
    ).fetchall()
    assert rows == [
        ("default", dt.date(2024, 6, 1), 1, 1_717_203_600, 60),
        ("default", dt.date(2024, 6, 1), 1, 1_717_203_660, 30),
    ]
    assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE flows)").fetchall())
    assert (types["src_ip"], types["dst_port"], types["packet_cnt"]) == (
        "UINTEGER",
        "USMALLINT",
        "UINTEGER",
    )
