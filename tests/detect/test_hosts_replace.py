"""The bulk replace of ``hosts`` stores what a plain SQLAlchemy Core insert stores."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flowstore import syns, write_store
from sqlalchemy import Engine, delete, event, insert, text

from iotnotice.db import connect
from iotnotice.db.models import DetectedHost
from iotnotice.detect import hosts as hosts_module
from iotnotice.detect import run_detection
from iotnotice.detect.hosts import HOST_COLUMNS, HostWriter, get_host
from iotnotice.settings import Settings, load_settings

NOW = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)
_SELECT = "SELECT " + ", ".join([*HOST_COLUMNS, "detected_at"]) + " FROM hosts ORDER BY ip"


def _columns(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    odd = ['AS "quoted"\\back\tslash\nline', "Ünïcode KK", None]
    first = 1_790_000_000 + rng.integers(0, 86400, n) // 300 * 300
    evidence = [
        json.dumps({"rule": "default", "counts": {"packets": int(i)}, "note": odd[i % 2]})
        for i in range(n)
    ]
    return {
        "ip": [f"198.51.{seed}.{i}" for i in range(n)],
        "classification": [("infected", "noise", "scanner")[i % 3] for i in range(n)],
        "family": [("mirai" if i % 2 else None) for i in range(n)],
        "confidence": [(0.999, 0.5, 1 / 3)[i % 3] for i in range(n)],
        "first_seen": first.astype(np.int64),
        "last_seen": (first + 300 * rng.integers(1, 20, n)).astype(np.int64),
        "packets": rng.integers(1, 10**12, n).tolist(),
        "ports": ["23/tcp,2323/tcp"] * n,
        "asn": [(None if i % 4 == 0 else 4713) for i in range(n)],
        "as_name": [odd[i % 3] for i in range(n)],
        "country": [("JP" if i % 2 else None) for i in range(n)],
        "isp": [("ocn" if i % 3 == 0 else None) for i in range(n)],
        "evidence": evidence,
    }


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(_SELECT)]


def _core_replace(engine: Engine, columns: dict[str, Any]) -> None:
    table = DetectedHost.metadata.tables["hosts"]
    with engine.begin() as conn:
        conn.execute(delete(table))
        conn.execute(insert(table), hosts_module._core_rows(columns, NOW))


def _replace(engine: Engine, *chunks: dict[str, Any]) -> None:
    with HostWriter(engine, NOW) as writer:
        for columns in chunks:
            writer.append(columns)


def test_bulk_replace_stores_what_core_inserts(any_settings: Settings) -> None:
    """SQLite executemany / PostgreSQL TRUNCATE + COPY: the same stored values as Core."""
    engine = connect(any_settings)
    try:
        columns = _columns(30, 1)
        _core_replace(engine, columns)
        want = _stored(engine)
        _core_replace(engine, _columns(5, 2))
        _replace(engine, columns)
        assert _stored(engine) == want
        host = get_host(engine, "198.51.1.1")
        assert host["evidence"] == json.loads(columns["evidence"][1])
        assert host["detected_at"] == NOW.isoformat()
        _replace(engine, _columns(0, 3))
        assert _stored(engine) == []
    finally:
        engine.dispose()


def _chunk(columns: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    return {name: values[lo:hi] for name, values in columns.items()}


def test_chunks_store_what_one_append_stores(any_settings: Settings) -> None:
    """Appending the hosts in chunks (an empty one too) stores the same rows as one append."""
    engine = connect(any_settings)
    try:
        columns = _columns(30, 1)
        _replace(engine, columns)
        want = _stored(engine)
        _replace(engine, _columns(5, 2))
        _replace(engine, _chunk(columns, 0, 7), _chunk(columns, 7, 7), _chunk(columns, 7, 30))
        assert _stored(engine) == want
    finally:
        engine.dispose()


def test_a_failed_replace_keeps_the_old_rows(any_settings: Settings) -> None:
    """An exception inside the writer's block rolls the whole replacement back."""
    engine = connect(any_settings)
    try:
        _replace(engine, _columns(6, 1))
        want = _stored(engine)
        with pytest.raises(RuntimeError, match="merge failed"), HostWriter(engine, NOW) as writer:
            writer.append(_columns(4, 2))
            raise RuntimeError("merge failed")
        assert _stored(engine) == want
        with pytest.raises(RuntimeError, match="outside"):
            writer.append(_columns(1, 3))
    finally:
        engine.dispose()


def test_sqlite_spill_bound_is_512_mib_whatever_the_page_size(
    settings: Settings, tmp_path: Path
) -> None:
    """SQLite: the replace may keep 512 MiB of dirty pages, counted in the file's own pages
    (16 KiB in a new database, 4 KiB in one made before). SQLite does not report the
    threshold back, so the statements are traced."""
    old = tmp_path / "old"
    old.mkdir()
    raw = sqlite3.connect(old / "iotnotice.db")
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE legacy (x)")
    raw.close()
    statements: list[str] = []
    for s in (settings, load_settings(environ={}, data_dir=str(old))):
        engine = connect(s)
        engine.dispose()  # new connections, each traced
        event.listen(engine, "connect", lambda c, _r: c.set_trace_callback(statements.append))
        try:
            _replace(engine, _columns(3, 1))
        finally:
            engine.dispose()
    spills = [q for q in statements if q.startswith("PRAGMA cache_spill=") and q[-1] != "1"]
    assert spills == ["PRAGMA cache_spill=32768", "PRAGMA cache_spill=131072"]


def test_sqlite_spill_setting_is_restored(settings: Settings) -> None:
    """SQLite: the replacing transaction's cache_spill is the connection's default again
    afterwards (the connection goes back to the pool)."""
    engine = connect(settings)
    try:
        with engine.connect() as conn:
            default = conn.exec_driver_sql("PRAGMA cache_spill").scalar()
            raw = conn.connection.dbapi_connection
        _replace(engine, _columns(6, 1))
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection is raw
            assert conn.exec_driver_sql("PRAGMA cache_spill").scalar() == default
    finally:
        engine.dispose()


def test_replace_deletes_when_a_reader_holds_the_table(
    pg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a reader's lock makes TRUNCATE give up; DELETE replaces the rows and the
    reader's transaction still sees the old ones."""
    monkeypatch.setattr(hosts_module, "_TRUNCATE_WAIT", "200ms")
    engine = connect(pg_settings)
    try:
        with engine.begin() as conn:
            assert hosts_module._clear_hosts(conn, DetectedHost.metadata.tables["hosts"])
        _replace(engine, _columns(6, 1))
        with engine.connect() as reader:
            reader.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            before = reader.exec_driver_sql("SELECT count(*) FROM hosts").scalar()
            _replace(engine, _columns(4, 2))
            assert reader.exec_driver_sql("SELECT count(*) FROM hosts").scalar() == before == 6
        assert [r[0] for r in _stored(engine)] == [f"198.51.2.{i}" for i in range(4)]
        with engine.connect() as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "0"
    finally:
        engine.dispose()


def test_long_research_organisation_fits_the_family_column(
    any_settings: Settings, tmp_path: Path
) -> None:
    """An operator's research entry with a long name: family cut to VARCHAR(32), the whole
    name in the evidence (PostgreSQL refused the insert before)."""
    org = "University of Somewhere Internet Measurement Research Group"
    extra = tmp_path / "research.toml"
    extra.write_text(
        f'[[network]]\norganisation = "{org}"\nsource = "test"\nprefixes = ["198.51.100.0/24"]\n'
    )
    settings = load_settings(
        environ={},
        data_dir=str(any_settings.data_path),
        database_url=str(any_settings.values["database_url"]),
        research_networks=str(extra),
    )
    write_store(settings.flows_path, syns("198.51.100.7", 30, ports=[23, 80], tcp_synlen=24))
    engine = connect(settings)
    try:
        run_detection(settings, engine)
        host = get_host(engine, "198.51.100.7")
        assert (host["classification"], host["family"]) == ("research", org[:32])
        assert host["evidence"]["research"]["organisation"] == org
    finally:
        engine.dispose()
