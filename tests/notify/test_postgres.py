"""Cases and notification on a real PostgreSQL server (portable SQL, timezone-aware times)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from iotnotice.cases import IllegalTransition, transition, update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import Case
from iotnotice.notify import run_notify
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_cases_and_reports_on_postgresql(
    pg_settings: Settings, pg_engine: Engine, pg_put_host: Callable[..., None]
) -> None:
    """Open, report, suppress, resolve and reopen as reinfection, all on PostgreSQL."""
    pg_put_host("198.51.100.1", "alpha-net")
    pg_put_host("192.0.2.7", "beta.ne.jp")
    pg_put_host("192.0.2.8", None)
    assert update_cases(pg_settings, pg_engine).opened == 3
    first = run_notify(pg_settings, pg_engine, now=T0)
    assert first.reported == 2 and first.unassigned == ["192.0.2.8"]
    alpha_csv = next((pg_settings.outbox_path / "alpha-net").glob("*.csv"))
    rows = list(csv.DictReader(io.StringIO(alpha_csv.read_text()), dialect="unix"))
    assert [r["src_ip"] for r in rows] == ["198.51.100.1"]
    assert run_notify(pg_settings, pg_engine, now=T0 + timedelta(days=1)).reported == 0
    with session_scope(pg_engine) as session:
        case = session.scalars(select(Case).where(Case.ip == "198.51.100.1")).one()
        assert case.status == "notified"
        with pytest.raises(IllegalTransition):
            transition(session, case, "new", "operator")
        transition(session, case, "resolved", "isp:alpha-net", at=T0 + timedelta(hours=2))
    pg_put_host("198.51.100.1", "alpha-net", last=T0 + timedelta(days=3))
    assert update_cases(pg_settings, pg_engine).reinfections == 1
    again = run_notify(pg_settings, pg_engine, now=T0 + timedelta(days=3))
    assert again.reported == 1 and again.isps[0].new == 1


def test_outbox_claims_and_api_on_postgresql(
    pg_settings: Settings, pg_engine: Engine, pg_put_host: Callable[..., None]
) -> None:
    """Outbox claims (conditional UPDATE) and the API's per-ISP queries work on PostgreSQL."""
    import socket

    from fastapi.testclient import TestClient

    from iotnotice.db.models import OutboxMessage
    from iotnotice.notify import deliver_outbox
    from iotnotice.notify.api import create_isp_api
    from iotnotice.notify.tokens import create_token

    pg_put_host("198.51.100.1", "alpha-net")
    pg_put_host("192.0.2.7", "beta.ne.jp")
    update_cases(pg_settings, pg_engine)
    run_notify(pg_settings, pg_engine, now=T0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = int(s.getsockname()[1])
    down = pg_settings.replace(smtp_host="127.0.0.1", smtp_port=closed_port, smtp_timeout=5)
    assert len(deliver_outbox(down, pg_engine).retrying) == 2
    with session_scope(pg_engine) as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    _, token = create_token(pg_engine, "beta.ne.jp")
    client = TestClient(create_isp_api(pg_settings, pg_engine))
    cases = client.get("/api/isp/v1/cases", headers={"Authorization": f"Bearer {token}"}).json()
    assert [c["ip"] for c in cases] == ["192.0.2.7"]
