"""Fixtures for the cases tests: a real SQLite database in a temporary data directory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from iotnotice.db import connect, session_scope
from iotnotice.db.models import DetectedHost, Isp
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Engine:
    engine = connect(settings)
    with session_scope(engine) as session:
        session.add(Isp(name="alpha-net", display_name="Alpha Net", asns=[64500]))
    return engine


def _put_host(
    engine: Engine,
    ip: str,
    *,
    classification: str = "infected",
    isp: str | None = "alpha-net",
    first: datetime = T0,
    last: datetime = T0,
    packets: int = 10,
) -> None:
    """Insert or replace one row of the hosts table, as detect would."""
    with session_scope(engine) as session:
        host = session.query(DetectedHost).filter_by(ip=ip).one_or_none() or DetectedHost(ip=ip)
        host.classification, host.family, host.confidence = classification, "mirai", 0.99
        host.first_seen, host.last_seen, host.packets = first, last, packets
        host.ports, host.asn, host.as_name, host.country, host.isp = (
            "23/tcp,2323/tcp",
            64500,
            "ALPHA",
            "JP",
            isp,
        )
        host.evidence = {"mirai_packets": packets}
        session.add(host)


@pytest.fixture
def put_host(engine: Engine) -> Callable[..., None]:
    """Insert or replace hosts rows in the test database."""
    return lambda ip, **kw: _put_host(engine, ip, **kw)
