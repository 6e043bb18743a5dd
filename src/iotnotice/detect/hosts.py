"""The ``hosts`` table: replaced in bulk by detection, read for listings, exports and
explanations."""

from __future__ import annotations

import csv
import io
import ipaddress
import itertools
import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, delete, insert, select
from sqlalchemy.exc import DBAPIError

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.detect.evidence import summary_line
from iotnotice.errors import InputError, NotFoundError
from iotnotice.schemas import HOST

__all__ = ["HOST_COLUMNS", "HostWriter", "get_host", "list_hosts", "write_hosts"]

# The declared host record (schemas.HOST) plus the evidence the database keeps beside it.
HOST_COLUMNS = (*(c.name for c in HOST), "evidence")

_TIMES = ("first_seen", "last_seen")


def _time_text(epochs: np.ndarray, fmt: Callable[[np.ndarray], list[str]]) -> list[str]:
    # Sources share a few hundred interval boundaries: format each distinct time once.
    distinct, where = np.unique(epochs, return_inverse=True)
    text: list[str] = np.array(fmt(distinct), dtype=object)[where.reshape(-1)].tolist()
    return text


def _sqlite_times(epochs: np.ndarray) -> list[str]:
    # The text SQLAlchemy's SQLite DateTime stores (its storage format, no zone: all UTC), so the
    # ORM reads back exactly what a Core insert of aware datetimes gave.
    def fmt(values: np.ndarray) -> list[str]:
        us = values.astype("datetime64[s]").astype("datetime64[us]")
        return [t.replace("T", " ", 1) for t in np.datetime_as_string(us, "us").tolist()]

    return _time_text(epochs, fmt)


def _pg_times(epochs: np.ndarray) -> list[str]:
    def fmt(values: np.ndarray) -> list[str]:
        return [t + "Z" for t in np.datetime_as_string(values.astype("datetime64[s]"), "s")]

    return _time_text(epochs, fmt)


def _clear_hosts(conn: Connection, table: Table) -> bool:
    """Empty ``hosts`` inside the replacing transaction; True when it was truncated.

    PostgreSQL: TRUNCATE, which spares deleting (and later vacuuming) every old row version;
    the COPY that follows then has no dead index entries to check the unique ``ip`` against
    (194k hosts: DELETE took 0.3-0.9 s and slowed the COPY). TRUNCATE holds an exclusive lock
    until commit, so readers of ``hosts`` wait for the new rows instead of reading the old
    ones; when the lock is not granted within a few seconds (a long reader) or TRUNCATE is not
    permitted, DELETE as before. SQLite: DELETE (its truncate optimisation).
    """
    if conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_TRUNCATE_WAIT}'")
                conn.exec_driver_sql(f"TRUNCATE {table.name}")
                conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
            return True
        except DBAPIError:
            pass
    conn.execute(delete(table))
    return False


# How long TRUNCATE may wait for readers of hosts before detection deletes the rows instead.
_TRUNCATE_WAIT = "3s"

# SQLite: bytes of dirty pages the replacing transaction may keep in memory before spilling
# them to the WAL (default: past cache_size, 2 MB). The DELETE's freed pages are zeroed
# (Debian's SQLite is built with SECURE_DELETE) and the inserts reuse them; spilled, each page
# went to the WAL twice and was read back once (200k hosts, 270 MB of 4 KiB pages: 0.4-0.5 s
# CPU of ~3). The bound is in bytes, turned into pages of the file's own size (4 KiB in older
# databases, 16 KiB in new ones, see db.engine); larger replacements spill past it as before.
_SPILL_BYTES = 512 << 20


class HostWriter:
    """Replaces every row of ``hosts`` in one transaction, a chunk of host columns at a time.

    ``with HostWriter(engine, now) as writer: writer.append(columns)``: the table is emptied on
    entry and the rows committed on a clean exit (rolled back on an exception), so readers see
    the old rows or the new ones, never a part. ``columns`` hold :data:`HOST_COLUMNS` in the
    stored types (times as epoch-second arrays, evidence as JSON text); SQLite gets a DB-API
    executemany, PostgreSQL a COPY (psycopg 3), other drivers a Core insert. SQLAlchemy's
    per-row parameter processing (JSON, datetimes) cost more than the insert itself (profiled
    with 200k hosts).
    """

    def __init__(self, engine: Engine, now: datetime) -> None:
        self._engine = engine
        self._now = now
        self._table = DetectedHost.metadata.tables[DetectedHost.__tablename__]
        self._stack = ExitStack()
        self._conn: Connection | None = None
        self._stamp: Any = now

    def __enter__(self) -> HostWriter:
        with ExitStack() as stack:
            conn = stack.enter_context(self._engine.connect())
            if conn.dialect.name == "sqlite":
                raw = conn.connection.dbapi_connection
                page = raw.execute("PRAGMA page_size").fetchone()[0]  # type: ignore[union-attr]
                spill = _SPILL_BYTES // max(int(page), 512)
                raw.execute(f"PRAGMA cache_spill={spill}")  # type: ignore[union-attr]
                # Back to the default (spill past cache_size) for the pooled connection.
                stack.callback(raw.execute, "PRAGMA cache_spill=1")  # type: ignore[union-attr]
            stack.enter_context(conn.begin())
            _clear_hosts(conn, self._table)
            # detected_at through the column type's own processor: one value, the same text.
            column_type = self._table.c.detected_at.type.dialect_impl(conn.dialect)
            process = column_type.bind_processor(conn.dialect)
            self._stamp = process(self._now) if process else self._now
            self._conn = conn
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conn = None
        self._stack.__exit__(exc_type, exc, tb)

    def append(self, columns: dict[str, Any]) -> None:
        """Insert one chunk of host columns."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("HostWriter.append outside its with block")
        n = len(columns["ip"])
        if n == 0:
            return
        name = conn.dialect.name
        times = _sqlite_times if name == "sqlite" else _pg_times
        values = [times(columns[c]) if c in _TIMES else columns[c] for c in HOST_COLUMNS]
        rows = zip(*values, itertools.repeat(self._stamp, n), strict=True)
        names = ", ".join([*HOST_COLUMNS, "detected_at"])
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if name == "sqlite":
                marks = ", ".join("?" * (len(HOST_COLUMNS) + 1))
                # sqlite3 takes any iterable: no list of every row's tuple.
                sql = f"INSERT INTO {self._table.name} ({names}) VALUES ({marks})"
                cursor.executemany(sql, rows)  # type: ignore[arg-type]
            elif hasattr(cursor, "copy"):
                with cursor.copy(f"COPY {self._table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.execute(insert(self._table), _core_rows(columns, self._now))
        finally:
            cursor.close()


def _core_rows(columns: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    # Other drivers: a plain Core executemany of Python values (slower, any dialect).
    values = {c: columns[c] for c in HOST_COLUMNS}
    for c in _TIMES:
        values[c] = [datetime.fromtimestamp(t, UTC) for t in columns[c].tolist()]
    values["evidence"] = [json.loads(e) for e in columns["evidence"]]
    return [
        dict(zip(values, row, strict=True), detected_at=now)
        for row in zip(*values.values(), strict=True)
    ]


def _utc(value: datetime) -> str:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _row(host: DetectedHost) -> dict[str, Any]:
    return {
        "ip": host.ip,
        "classification": host.classification,
        "family": host.family,
        "confidence": round(host.confidence, 4),
        "first_seen": _utc(host.first_seen),
        "last_seen": _utc(host.last_seen),
        "packets": host.packets,
        "ports": host.ports,
        "asn": host.asn,
        "as_name": host.as_name,
        "country": host.country,
        "isp": host.isp,
        "evidence": summary_line(host.evidence or {}),
    }


def list_hosts(engine: Engine, classification: str | None = None) -> list[dict[str, Any]]:
    """Host rows (evidence as a one-line summary), highest confidence first."""
    query = select(DetectedHost).order_by(DetectedHost.confidence.desc(), DetectedHost.ip)
    if classification:
        query = query.where(DetectedHost.classification == classification)
    with session_scope(engine) as session:
        return [_row(h) for h in session.scalars(query)]


def get_host(engine: Engine, ip: str) -> dict[str, Any]:
    """One host with its full evidence."""
    try:
        text = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise InputError(ip, "not an IP address") from None
    with session_scope(engine) as session:
        host = session.scalars(select(DetectedHost).where(DetectedHost.ip == text)).first()
        if host is None:
            raise NotFoundError(f"{text}: not among the detected hosts (run 'iotnotice detect')")
        row = _row(host)
        row["evidence"] = host.evidence
        row["detected_at"] = _utc(host.detected_at)
    return row


def write_hosts(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as CSV or JSON text."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(HOST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
