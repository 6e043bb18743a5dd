"""Sensor inventory: registration, prefix validation, and which packets a sensor keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Engine

from iotnotice.errors import ConfigError, NotFoundError
from iotnotice.store.sensors import (
    PrefixInfo,
    add_sensor,
    ensure_default_sensor,
    get_sensor,
    inside_mask,
    list_sensors,
)


def test_add_list_get(engine: Engine) -> None:
    """A sensor is stored with its prefixes and found by name; re-adding extends it."""
    add_sensor(engine, "tokyo", ["203.0.113.0/24", "2001:db8:1::/48"], since=datetime(2024, 1, 1))
    add_sensor(engine, "osaka", ["198.51.100.0/25"])
    again = add_sensor(engine, "tokyo", ["203.0.113.0/24", "192.0.2.0/24"])
    assert [p.prefix for p in again.prefixes] == [
        "203.0.113.0/24",
        "2001:db8:1::/48",
        "192.0.2.0/24",
    ]
    assert [s.name for s in list_sensors(engine)] == ["osaka", "tokyo"]
    tokyo = get_sensor(engine, "tokyo")
    assert tokyo.prefixes[0].since == datetime(2024, 1, 1, tzinfo=UTC)
    assert tokyo.monitored_addresses == 256 + 2**80 + 256


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("203.0.113.5/24", "did you mean 203.0.113.0/24"),
        ("203.0.113.0/33", "not a CIDR prefix"),
        ("darknet", "not a CIDR prefix"),
    ],
)
def test_bad_prefixes_are_explained(engine: Engine, prefix: str, message: str) -> None:
    """An invalid prefix is refused with a message that says how to fix it."""
    with pytest.raises(ConfigError, match=message):
        add_sensor(engine, "s1", [prefix])
    assert list_sensors(engine) == []


def test_bad_name_and_unknown_sensor(engine: Engine) -> None:
    """Names must be path-safe; looking up a missing sensor raises NotFoundError."""
    with pytest.raises(ConfigError, match="sensor name"):
        add_sensor(engine, "../etc", ["203.0.113.0/24"])
    with pytest.raises(NotFoundError, match="unknown sensor 'nope'"):
        get_sensor(engine, "nope")


def test_default_sensor_has_no_filter(engine: Engine) -> None:
    """The default sensor is created once and keeps every packet."""
    first = ensure_default_sensor(engine)
    assert ensure_default_sensor(engine).id == first.id
    assert first.prefixes == ()
    ts = np.zeros(3, dtype=np.int64)
    keep = inside_mask(first.prefixes, ts, np.array([4, 6, 4], np.uint8), np.zeros(3, np.uint32),
                       np.zeros((3, 16), np.uint8))  # fmt: skip
    assert keep.tolist() == [True, True, True]


def test_inside_mask_prefixes_and_periods() -> None:
    """Packets count as inside only for a prefix of their family that was monitored at the time."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    t1 = datetime(2024, 2, 1, tzinfo=UTC)
    prefixes = [
        PrefixInfo("203.0.113.0/25", t0, t1),
        PrefixInfo("2001:db8:1::/48", t0, None),
    ]
    jan = int(datetime(2024, 1, 15, tzinfo=UTC).timestamp()) * 10**9
    mar = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * 10**9
    ts = np.array([jan, jan, mar, jan, jan], dtype=np.int64)
    ver = np.array([4, 4, 4, 6, 6], dtype=np.uint8)
    dst = np.array([0xCB007105, 0xCB007185, 0xCB007105, 0, 0], dtype=np.uint32)
    dst6 = np.zeros((5, 16), np.uint8)
    dst6[3] = list(bytes.fromhex("20010db8000100000000000000000009"))
    dst6[4] = list(bytes.fromhex("20010db8000200000000000000000009"))
    assert inside_mask(prefixes, ts, ver, dst, dst6).tolist() == [True, False, False, True, False]
