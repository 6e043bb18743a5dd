"""Sensor inventory: which prefixes each darknet sensor monitors, and since when."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import selectinload

from iotnotice.db import session_scope
from iotnotice.db.models import Sensor, SensorPrefix
from iotnotice.errors import ConfigError, NotFoundError

__all__ = [
    "DEFAULT_SENSOR",
    "PrefixInfo",
    "SensorInfo",
    "add_sensor",
    "ensure_default_sensor",
    "get_sensor",
    "inside_mask",
    "list_sensors",
    "parse_prefix",
]

DEFAULT_SENSOR = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PrefixInfo:
    """One monitored prefix and the period it is valid for (``until`` None = still monitored)."""

    prefix: str
    since: datetime
    until: datetime | None


@dataclass(frozen=True)
class SensorInfo:
    """A sensor and its prefixes; no prefixes means no filter (keep every packet)."""

    id: int
    name: str
    prefixes: tuple[PrefixInfo, ...]

    @property
    def monitored_addresses(self) -> int:
        """Addresses currently monitored (IPv4 and IPv6 counted alike)."""
        return sum(
            ipaddress.ip_network(p.prefix).num_addresses for p in self.prefixes if not p.until
        )


def parse_prefix(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR prefix, or ConfigError saying what is wrong with it."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ipaddress.ip_network(text.strip(), strict=False)
            raise ConfigError(f"prefix {text!r} has host bits set; did you mean {fixed}?") from None
        raise ConfigError(f"prefix {text!r} is not a CIDR prefix such as 203.0.113.0/24") from None


def _as_datetime(since: datetime | date | None) -> datetime:
    if since is None:
        return _EPOCH
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _info(sensor: Sensor) -> SensorInfo:
    prefixes = tuple(
        PrefixInfo(p.prefix, _as_datetime(p.since), _as_datetime(p.until) if p.until else None)
        for p in sensor.prefixes
    )
    return SensorInfo(sensor.id, sensor.name, prefixes)


def add_sensor(
    engine: Engine,
    name: str,
    prefixes: Sequence[str],
    since: datetime | date | None = None,
) -> SensorInfo:
    """Register a sensor, or add prefixes to an existing one (already-open prefixes are kept)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"sensor name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    nets = [parse_prefix(p) for p in prefixes]
    start = _as_datetime(since)
    with session_scope(engine) as session:
        sensor = session.scalar(
            select(Sensor).where(Sensor.name == name).options(selectinload(Sensor.prefixes))
        )
        if sensor is None:
            sensor = Sensor(name=name)
            session.add(sensor)
        open_now = {p.prefix for p in sensor.prefixes if p.until is None}
        for net in dict.fromkeys(nets):
            if str(net) not in open_now:
                sensor.prefixes.append(SensorPrefix(prefix=str(net), since=start, until=None))
        session.flush()
        return _info(sensor)


def list_sensors(engine: Engine) -> list[SensorInfo]:
    """All sensors, by name."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(Sensor).order_by(Sensor.name).options(selectinload(Sensor.prefixes))
        )
        return [_info(s) for s in rows]


def get_sensor(engine: Engine, name: str) -> SensorInfo:
    """The sensor called ``name``, or NotFoundError."""
    with session_scope(engine) as session:
        sensor = session.scalar(
            select(Sensor).where(Sensor.name == name).options(selectinload(Sensor.prefixes))
        )
        if sensor is None:
            raise NotFoundError(f"unknown sensor {name!r} (add it with: iotnotice sensor add)")
        return _info(sensor)


def ensure_default_sensor(engine: Engine) -> SensorInfo:
    """The catch-all sensor ``default`` (no prefix filter), created on first use."""
    try:
        return get_sensor(engine, DEFAULT_SENSOR)
    except NotFoundError:
        return add_sensor(engine, DEFAULT_SENSOR, [])


def _ns(moment: datetime | None, default: int) -> int:
    return default if moment is None else int(moment.timestamp()) * 1_000_000_000


def inside_mask(
    prefixes: Iterable[PrefixInfo],
    ts: np.ndarray,
    ip_version: np.ndarray,
    dst_ip: np.ndarray,
    dst_ip6: np.ndarray,
) -> np.ndarray:
    """Which packets are addressed to a prefix monitored at their capture time."""
    prefixes = list(prefixes)
    if not prefixes:
        return np.ones(len(ts), dtype=bool)
    inside = np.zeros(len(ts), dtype=bool)
    words: np.ndarray | None = None
    for p in prefixes:
        net = ipaddress.ip_network(p.prefix)
        when = (ts >= _ns(p.since, 0)) & (ts < _ns(p.until, 2**63 - 1))
        if net.version == 4:
            mask4 = np.uint32(int(net.netmask))
            hit = (ip_version == 4) & ((dst_ip & mask4) == np.uint32(int(net.network_address)))
        else:
            if words is None:
                words = np.ascontiguousarray(dst_ip6).view(">u8").astype(np.uint64)
            hi6, lo6 = words[:, 0], words[:, 1]
            m = int(net.netmask)
            a = int(net.network_address)
            hit = (
                (ip_version == 6)
                & ((hi6 & np.uint64(m >> 64)) == np.uint64(a >> 64))
                & ((lo6 & np.uint64(m & (2**64 - 1))) == np.uint64(a & (2**64 - 1)))
            )
        inside |= hit & when
    return inside
