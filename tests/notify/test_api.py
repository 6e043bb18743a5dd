"""The ISP pull API: tokens, per-ISP isolation on every endpoint, status updates, audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from iotnotice.cases import update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import ApiAuditEntry, Case, CaseEvent, IspApiToken, Report
from iotnotice.notify import run_notify
from iotnotice.notify.api import create_isp_api
from iotnotice.notify.tokens import create_token, list_tokens, revoke_token
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
API = "/api/isp/v1"


@pytest.fixture
def world(
    settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> tuple[TestClient, dict[str, str], dict[str, str], dict[str, int]]:
    """Two ISPs with one reported case each; (client, tokens, notice IDs, a report id each)."""
    put_host("198.51.100.1", "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    tokens = {name: create_token(engine, name, "test")[1] for name in ("alpha-net", "beta.ne.jp")}
    with session_scope(engine) as session:
        notices = {c.isp.name: c.notice_id for c in session.scalars(select(Case)) if c.isp}
        reports = {r.isp.name: r.id for r in session.scalars(select(Report)) if r.isp}
    return TestClient(create_isp_api(settings, engine)), tokens, notices, reports


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_stored_hashed(engine: Engine) -> None:
    """Only a hash and a short prefix of a token are stored."""
    token_id, token = create_token(engine, "alpha-net", "noc")
    with session_scope(engine) as session:
        row = session.get(IspApiToken, token_id)
        assert row is not None and token not in (row.token_hash, row.prefix)
        assert len(row.token_hash) == 64 and token.startswith(row.prefix)
    assert [t.isp for t in list_tokens(engine)] == ["alpha-net"]


def test_requests_without_valid_token_are_refused(world: tuple) -> None:
    """No token, a wrong token and a revoked token all get 401 on every endpoint."""
    client, _, notices, reports = world
    paths = [
        f"{API}/cases",
        f"{API}/cases/{notices['alpha-net']}",
        f"{API}/reports",
        f"{API}/reports/{reports['alpha-net']}/file",
    ]
    for path in paths:
        assert client.get(path).status_code == 401
        assert client.get(path, headers=_auth("ino_forged")).status_code == 401
    post = f"{API}/cases/{notices['alpha-net']}/status"
    assert client.post(post, json={"status": "acknowledged"}).status_code == 401


def test_revoked_token_stops_working(world: tuple, engine: Engine) -> None:
    """Revoking a token refuses its next request."""
    client, tokens, _, _ = world
    assert client.get(f"{API}/cases", headers=_auth(tokens["alpha-net"])).status_code == 200
    (alpha_token,) = [t for t in list_tokens(engine) if t.isp == "alpha-net"]
    revoke_token(engine, alpha_token.id)
    assert client.get(f"{API}/cases", headers=_auth(tokens["alpha-net"])).status_code == 401


def test_lists_hold_only_own_cases_and_reports(world: tuple) -> None:
    """Each ISP's case and report lists contain only its own."""
    client, tokens, _, reports = world
    for isp, ip in (("alpha-net", "198.51.100.1"), ("beta.ne.jp", "192.0.2.7")):
        cases = client.get(f"{API}/cases", headers=_auth(tokens[isp])).json()
        assert [c["ip"] for c in cases] == [ip]
        listed = client.get(f"{API}/reports", headers=_auth(tokens[isp])).json()
        assert listed and all(r["id"] not in _others(reports, isp) for r in listed)
        csv_row = next(r for r in listed if r["format"] == "csv")
        body = client.get(f"{API}/reports/{csv_row['id']}/file", headers=_auth(tokens[isp]))
        assert body.status_code == 200 and ip in body.text


def _others(reports: dict[str, int], isp: str) -> set[int]:
    return {rid for name, rid in reports.items() if name != isp}


def test_isp_cannot_read_or_change_another_isps_data(world: tuple, engine: Engine) -> None:
    """Alpha's token gets 404 on Beta's case, Beta's case status and Beta's report file."""
    client, tokens, notices, reports = world
    alpha = _auth(tokens["alpha-net"])
    beta_case = notices["beta.ne.jp"]
    assert client.get(f"{API}/cases/{beta_case}", headers=alpha).status_code == 404
    changed = client.post(
        f"{API}/cases/{beta_case}/status", headers=alpha, json={"status": "resolved"}
    )
    assert changed.status_code == 404
    assert (
        client.get(f"{API}/reports/{reports['beta.ne.jp']}/file", headers=alpha).status_code == 404
    )
    with session_scope(engine) as session:
        case = session.scalars(select(Case).where(Case.notice_id == beta_case)).one()
        assert case.status == "notified"
        assert not [e for e in case.events if e.actor.startswith("isp:")]


def test_status_updates_follow_the_lifecycle(world: tuple, engine: Engine) -> None:
    """Acknowledge, alert and resolve are recorded with the ISP as actor; illegal moves are 409."""
    client, tokens, notices, _ = world
    alpha, notice = _auth(tokens["alpha-net"]), notices["alpha-net"]
    url = f"{API}/cases/{notice.lower()}/status"
    assert (
        client.post(
            url, headers=alpha, json={"status": "subscriber_alerted", "note": "mail sent"}
        ).json()["status"]
        == "acknowledged"
    )
    walled = client.post(url, headers=alpha, json={"status": "quarantined"})
    assert walled.status_code == 200 and walled.json()["status"] == "acknowledged"
    done = client.post(url, headers=alpha, json={"status": "resolved"})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    again = client.post(url, headers=alpha, json={"status": "acknowledged"})
    assert again.status_code == 409
    assert client.post(url, headers=alpha, json={"status": "hacked"}).status_code == 422
    detail = client.get(f"{API}/cases/{notice}", headers=alpha).json()
    assert [e["to_status"] for e in detail["events"]] == [
        "new",
        "notified",
        "acknowledged",
        "acknowledged",
        "resolved",
    ]
    assert {e["actor"] for e in detail["events"][2:]} == {"isp:alpha-net"}
    assert any("walled garden" in e["note"] for e in detail["events"])


def test_not_ours_returns_case_to_coordinator(
    world: tuple, settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> None:
    """'not ours' detaches the case from the ISP for good; the ISP can no longer see it."""
    client, tokens, notices, _ = world
    beta, notice = _auth(tokens["beta.ne.jp"]), notices["beta.ne.jp"]
    ok = client.post(
        f"{API}/cases/{notice}/status",
        headers=beta,
        json={"status": "not_ours", "note": "AS re-assigned"},
    )
    assert ok.status_code == 200
    assert client.get(f"{API}/cases", headers=beta).json() == []
    with session_scope(engine) as session:
        case = session.scalars(select(Case).where(Case.notice_id == notice)).one()
        assert case.isp_id is None
        last = session.scalars(select(CaseEvent).order_by(CaseEvent.id.desc())).first()
        assert last is not None and "not ours" in last.note
    # Detection still maps the address to Beta, but the case is not handed back to it.
    put_host("192.0.2.7", "beta.ne.jp", last=datetime(2026, 3, 2, tzinfo=UTC), packets=99)
    assert update_cases(settings, engine).extended == 1
    with session_scope(engine) as session:
        case = session.scalars(select(Case).where(Case.notice_id == notice)).one()
        assert case.isp_id is None and case.packets == 99


def test_every_request_is_audited(world: tuple, engine: Engine) -> None:
    """Reads, writes and refusals each leave one audit entry with ISP and outcome."""
    client, tokens, notices, _ = world
    client.get(f"{API}/cases", headers=_auth(tokens["alpha-net"]))
    client.get(f"{API}/cases/{notices['beta.ne.jp']}", headers=_auth(tokens["alpha-net"]))
    client.post(
        f"{API}/cases/{notices['alpha-net']}/status",
        headers=_auth(tokens["alpha-net"]),
        json={"status": "acknowledged"},
    )
    client.get(f"{API}/reports")
    with session_scope(engine) as session:
        log = [
            (e.action, e.status, e.isp_id is not None)
            for e in session.scalars(select(ApiAuditEntry).order_by(ApiAuditEntry.id))
        ]
    assert log == [
        ("list_cases", 200, True),
        ("get_case", 404, True),
        ("update_status", 200, True),
        ("auth_failed", 401, False),
    ]


def test_openapi_documents_the_endpoints(world: tuple) -> None:
    """The OpenAPI document lists every endpoint and the bearer scheme."""
    client = world[0]
    doc = client.get("/openapi.json").json()
    assert {
        f"{API}/cases",
        f"{API}/cases/{{notice_id}}",
        f"{API}/cases/{{notice_id}}/status",
        f"{API}/reports",
        f"{API}/reports/{{report_id}}/file",
    } <= set(doc["paths"])
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


def test_mounts_under_a_parent_app(settings: Settings, engine: Engine) -> None:
    """Mounted at /api/isp with prefix /v1, the API keeps its URLs, JSON errors and docs."""
    from fastapi import FastAPI

    parent = FastAPI(openapi_url=None)
    parent.mount("/api/isp", create_isp_api(settings, engine, prefix="/v1"))
    client = TestClient(parent)
    _, token = create_token(engine, "alpha-net")
    assert client.get(f"{API}/cases", headers=_auth(token)).json() == []
    refused = client.get(f"{API}/cases")
    assert refused.status_code == 401 and refused.json()["detail"]
    assert "/v1/cases" in client.get("/api/isp/openapi.json").json()["paths"]
