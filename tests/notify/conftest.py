"""Fixtures for the notify tests: a real SQLite database with two ISPs and detected hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from iotnotice.db import connect, session_scope
from iotnotice.db.models import DetectedHost, Isp
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _seed_isps(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        session.add_all(
            [
                Isp(
                    name="alpha-net",
                    display_name="Alpha Net",
                    asns=[64500],
                    language="en",
                    contacts=["abuse@alpha.example"],
                    country="JP",
                ),
                Isp(
                    name="beta.ne.jp",
                    display_name="Beta Networks",
                    display_name_ja="ベータ通信",
                    asns=[64501],
                    language="ja",
                    contacts=["soc@beta.example"],
                    country="JP",
                ),
            ]
        )
    return engine


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = _seed_isps(connect(settings))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_settings: Settings) -> Iterator[Engine]:
    """The same two ISPs in a fresh PostgreSQL database (root conftest's pg_settings)."""
    engine = _seed_isps(connect(pg_settings))
    yield engine
    engine.dispose()


def _put_host(
    engine: Engine,
    ip: str,
    isp: str | None,
    *,
    country: str = "JP",
    classification: str = "infected",
    family: str = "mirai",
    last: datetime = T0,
    packets: int = 40,
) -> None:
    with session_scope(engine) as session:
        host = session.query(DetectedHost).filter_by(ip=ip).one_or_none() or DetectedHost(ip=ip)
        host.classification, host.family, host.confidence = classification, family, 0.97
        host.first_seen, host.last_seen, host.packets = T0, last, packets
        host.ports, host.country, host.isp = "23/tcp,2323/tcp", country, isp
        host.asn = {"alpha-net": 64500, "beta.ne.jp": 64501}.get(isp or "", 64999)
        host.as_name, host.evidence = "TEST-AS", {"mirai_packets": packets, "src_port": 40123}
        session.add(host)


@pytest.fixture
def put_host(engine: Engine) -> Callable[..., None]:
    """Insert or replace one hosts row, as detect would."""
    return lambda ip, isp, **kw: _put_host(engine, ip, isp, **kw)


@pytest.fixture
def pg_put_host(pg_engine: Engine) -> Callable[..., None]:
    """put_host for the PostgreSQL database."""
    return lambda ip, isp, **kw: _put_host(pg_engine, ip, isp, **kw)
