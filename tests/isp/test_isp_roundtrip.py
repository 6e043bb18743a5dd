"""The real coordinator's ISP API on loopback: notify -> pull -> match -> alert -> status back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from isp_helpers import radius_record
from sqlalchemy import Engine, select

from iotnotice.cases import update_cases
from iotnotice.db import connect, session_scope
from iotnotice.db.models import Case, CaseEvent, DetectedHost, Isp
from iotnotice.isp.alerts import send_alerts
from iotnotice.isp.casework import load_subscribers
from iotnotice.isp.coordinator import pull_reports, push_status
from iotnotice.isp.logs import load_logs
from iotnotice.isp.match import match_cases
from iotnotice.notify import run_notify
from iotnotice.notify.api import create_isp_api
from iotnotice.notify.tokens import create_token
from iotnotice.settings import Settings, load_settings

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def _coordinator_db(settings: Settings) -> Engine:
    engine = connect(settings)
    with session_scope(engine) as session:
        session.add(
            Isp(
                name="example-isp",
                display_name="Example ISP",
                asns=[64500],
                contacts=["abuse@isp.example"],
                formats=["csv", "json"],
                country="JP",
            )
        )
        session.add(
            DetectedHost(
                ip="198.51.100.10",
                classification="infected",
                family="mirai",
                confidence=0.97,
                first_seen=T0,
                last_seen=T0,
                packets=40,
                ports="23/tcp",
                asn=64500,
                as_name="TEST-AS",
                country="JP",
                isp="example-isp",
                evidence={"mirai_packets": 40},
            )
        )
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    return engine


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, Engine]]:
    """The coordinator's API (its own database) served by uvicorn on 127.0.0.1."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "coordinator"))
    engine = _coordinator_db(settings)
    token = create_token(engine, "example-isp", "isp toolkit")[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_isp_api(settings, engine), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", token, engine
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_round_trip_with_the_coordinator(
    files: Path, settings: Settings, engine: Engine, served: tuple[str, str, Engine]
) -> None:
    """A case reported by notify is pulled, matched, alerted, and acknowledged back."""
    url, token, coordinator = served
    isp = settings.replace(isp_coordinator_url=url, isp_coordinator_token=token)
    pulled = pull_reports(isp, engine)
    assert pulled.imported.created == 1
    assert pulled.fetched[0].suffix == ".json"  # one format per period
    (files / "detail").write_text(radius_record(T0, "Start", "S1", "alice", "198.51.100.10"))
    load_logs(isp, "radius", [files / "detail"])
    (files / "dir.csv").write_text("subscriber,postal_address\nalice,1-2-3 Chiyoda\n")
    load_subscribers(engine, [files / "dir.csv"])
    assert match_cases(isp, engine).matched == 1
    assert send_alerts(isp, engine, "letter").sent == 1
    assert push_status(isp, engine).sent == 1
    with session_scope(coordinator) as session:
        case = session.scalars(select(Case)).one()
        notes = [
            e.note for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))
        ]
        assert case.status == "acknowledged"
    assert any("subscriber alerted" in n for n in notes)
    assert not any("alice" in n or "Chiyoda" in n for n in notes)
