"""Helpers and fixture: a Parquet flow store and a sensor inventory written by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from iotnotice.db import connect, session_scope
from iotnotice.db.models import Sensor, SensorPrefix
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings, load_settings


@dataclass
class Store:
    """A written flow store and the arrays it was written from."""

    settings: Settings
    engine: Engine
    columns: dict[str, np.ndarray]
    sensors: np.ndarray
    chunks: list[tuple[str, str, pa.Table]]


def flow_table(columns: dict[str, np.ndarray], mask: np.ndarray) -> pa.Table:
    """A FLOW_TUPLE Arrow table from the selected rows of numpy columns."""
    arrays = []
    for col in FLOW_TUPLE:
        if col.name in ("src_ip6", "dst_ip6"):
            arrays.append(pa.nulls(int(mask.sum()), pa.binary(16)))
        else:
            arrays.append(pa.array(columns[col.name][mask], type=col.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(FLOW_TUPLE))


HOURS = [
    datetime(2023, 12, 30, 10, tzinfo=UTC),
    datetime(2023, 12, 31, 23, tzinfo=UTC),
    datetime(2024, 1, 1, 0, tzinfo=UTC),
    datetime(2024, 1, 2, 5, tzinfo=UTC),
    datetime(2024, 2, 29, 13, tzinfo=UTC),
]


def make_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random flow-tuple columns with minute intervals inside the hours of HOURS."""
    base = np.array([int(h.timestamp()) for h in HOURS], np.int64)
    time = rng.choice(base, n) + rng.integers(0, 60, n) * 60
    cols: dict[str, np.ndarray] = {
        "time": time.astype(np.int64),
        "src_ip": rng.integers(0x0A000000, 0x0A000000 + 300, n).astype(np.uint32),
        "dst_ip": rng.integers(0xCB007100, 0xCB007200, n).astype(np.uint32),
        "src_port": rng.integers(1024, 65535, n).astype(np.uint16),
        "dst_port": rng.choice(np.array([23, 2323, 80, 445, 53], np.uint16), n),
        "protocol": rng.choice(np.array([6, 6, 6, 17, 1], np.uint8), n),
        "packet_cnt": rng.integers(1, 50, n).astype(np.uint32),
    }
    cols["mirai_cnt"] = np.where(cols["dst_port"] == 23, cols["packet_cnt"], 0).astype(np.uint32)
    zeros = ("ttl", "tcp_flags", "ip_len", "tcp_synlen", "tcp_synwinlen")
    for name in (*zeros, "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt"):
        dtype = next(c.type for c in FLOW_TUPLE if c.name == name).to_pandas_dtype()
        cols[name] = np.zeros(n, dtype)
    return cols


def write_store(
    root: Path, columns: dict[str, np.ndarray], sensors: np.ndarray
) -> list[tuple[str, str, pa.Table]]:
    """Write hive-partitioned Parquet files; returns (sensor, chunk id, table) per file."""
    hours = columns["time"] // 3600
    chunks = []
    for sensor in np.unique(sensors):
        for hour in np.unique(hours[sensors == sensor]):
            mask = (sensors == sensor) & (hours == hour)
            stamp = datetime.fromtimestamp(int(hour) * 3600, UTC)
            folder = root / f"sensor={sensor}" / f"date={stamp:%Y-%m-%d}" / f"hour={stamp:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            table = flow_table(columns, mask)
            chunk_id = f"{sensor}-t{hour}"
            pq.write_table(table, folder / f"{chunk_id}-0.parquet", compression="zstd")
            chunks.append((str(sensor), chunk_id, table))
    return chunks


def add_sensor(
    engine: Engine, name: str, spans: list[tuple[str, datetime, datetime | None]]
) -> None:
    """Register a sensor with (prefix, since, until) spans."""
    with session_scope(engine) as session:
        sensor = Sensor(name=name)
        sensor.prefixes = [SensorPrefix(prefix=p, since=s, until=u) for p, s, u in spans]
        session.add(sensor)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Two sensors, two years of flows around a year boundary."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    engine = connect(settings)
    rng = np.random.default_rng(7)
    cols = make_columns(rng, 3000)
    sensors = rng.choice(np.array(["east", "west"]), 3000)
    chunks = write_store(settings.flows_path, cols, sensors)
    add_sensor(engine, "east", [("203.0.113.0/24", datetime(2020, 1, 1, tzinfo=UTC), None)])
    add_sensor(
        engine,
        "west",
        [
            ("198.51.100.0/24", datetime(2023, 7, 2, tzinfo=UTC), None),
            ("2001:db8::/64", datetime(2020, 1, 1, tzinfo=UTC), None),
        ],
    )
    yield Store(settings, engine, cols, sensors, chunks)
    engine.dispose()
