"""Coordinator API over real HTTP on loopback, driven by the ISP toolkit's pull and push."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine, select

from iotnotice.cases import update_cases
from iotnotice.db import connect, session_scope
from iotnotice.db.models import ApiAuditEntry, Case, IspCase, IspStatusUpdate
from iotnotice.isp.coordinator import pull_reports, push_status
from iotnotice.notify import run_notify
from iotnotice.notify.api import create_isp_api
from iotnotice.notify.tokens import create_token
from iotnotice.settings import Settings, load_settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def coordinator(settings: Settings, engine: Engine) -> Iterator[str]:
    """The pull API served by uvicorn on 127.0.0.1; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        create_isp_api(settings, engine),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_isp_pulls_its_reports_and_pushes_status_back(
    settings: Settings,
    engine: Engine,
    put_host: Callable[..., None],
    coordinator: str,
    tmp_path: Path,
) -> None:
    """Beta pulls only Beta's case over HTTP, alerts the subscriber, and the coordinator sees it."""
    put_host("198.51.100.1", "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    _, token = create_token(engine, "beta.ne.jp", "toolkit")
    isp_settings = load_settings(
        environ={},
        data_dir=str(tmp_path / "isp"),
        isp_coordinator_url=coordinator,
        isp_coordinator_token=token,
    )
    isp_engine = connect(isp_settings)
    pulled = pull_reports(isp_settings, isp_engine)
    assert pulled.fetched and pulled.imported.created == 1
    with session_scope(isp_engine) as session:
        (isp_case,) = session.scalars(select(IspCase)).all()
        assert isp_case.ip == "192.0.2.7"
    with session_scope(engine) as session:
        notice = session.scalars(select(Case.notice_id).where(Case.ip == "192.0.2.7")).one()
    with session_scope(isp_engine) as session:
        session.add(IspStatusUpdate(notice_id=notice, status="subscriber_alerted"))
    pushed = push_status(isp_settings, isp_engine)
    assert (pushed.sent, pushed.failed) == (1, [])
    with session_scope(engine) as session:
        case = session.scalars(select(Case).where(Case.notice_id == notice)).one()
        assert case.status == "acknowledged"
        assert case.events[-1].actor == "isp:beta.ne.jp"
        actions = [e.action for e in session.scalars(select(ApiAuditEntry))]
    assert "list_reports" in actions and "download_report" in actions
    assert "update_status" in actions
    isp_engine.dispose()
