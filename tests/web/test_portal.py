"""ISP portal: token sign-in, own cases and reports only, status reported back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from web_site import INFECTED_IP, OTHER_IP, Site, post_form

from iotnotice.db import session_scope
from iotnotice.db.models import Case, Isp, Report
from iotnotice.notify.tokens import create_token


def _reports(site: Site, tmp_path: Path) -> dict[str, int]:
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    ids = {}
    with session_scope(engine) as session:
        for name in ("east-net", "west-net"):
            path = tmp_path / f"{name}.csv"
            path.write_text(f"report of {name}\n")
            isp = session.scalar(select(Isp).where(Isp.name == name))
            report = Report(
                isp=isp,
                period="2026-11-25",
                format="csv",
                path=str(path),
                sha256="0" * 64,
                case_count=1,
            )
            session.add(report)
            session.flush()
            ids[name] = report.id
    return ids


def test_one_isp_cannot_reach_another_isps_cases_or_reports(site: Site, tmp_path: Path) -> None:
    """East sees and downloads only its own; West's case and report answer 404."""
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    ids = _reports(site, tmp_path)
    _, token = create_token(engine, "east-net")
    assert site.client.get("/isp/cases", follow_redirects=False).status_code == 303
    bad = post_form(site.client, "/isp/login", {"token": "iotn_wrong"})
    assert bad.status_code == 401
    assert post_form(site.client, "/isp/login", {"token": token}).status_code == 303
    with session_scope(engine) as session:
        for case in session.scalars(select(Case)):
            case.last_reported_at = datetime(2026, 11, 25, tzinfo=UTC)
    page = site.client.get("/isp/cases?lang=en").text
    assert INFECTED_IP in page and OTHER_IP not in page
    figures = page.split('id="isp-figures">')[1].split("</dl>")[0]
    assert "<dd>1</dd>" in figures  # East's one notified case, not West's
    own = site.client.get(f"/isp/reports/{ids['east-net']}")
    assert own.status_code == 200 and own.text == "report of east-net\n"
    assert site.client.get(f"/isp/reports/{ids['west-net']}").status_code == 404
    theirs = f"/isp/cases/{site.other}/status"
    assert (
        post_form(site.client, "/isp/cases", {"to_status": "resolved"}, theirs).status_code == 404
    )


def test_isp_reports_status_of_its_own_case(site: Site) -> None:
    """An acknowledgement from the portal moves the case and names the ISP as actor."""
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    _, token = create_token(engine, "east-net")
    post_form(site.client, "/isp/login", {"token": token})
    mine = f"/isp/cases/{site.genuine}/status"
    done = post_form(site.client, "/isp/cases", {"to_status": "acknowledged"}, mine)
    assert done.status_code == 303
    refused = post_form(site.client, "/isp/cases", {"to_status": "expired"}, mine)
    assert refused.status_code == 400
    page = site.client.get("/isp/cases?lang=en").text
    assert "Cases notified" not in page  # never notified yet: no clean-up figures
    with session_scope(engine) as session:
        case = session.scalar(select(Case).where(Case.notice_id == site.genuine))
        assert case is not None and case.status == "acknowledged"
        assert case.events[-1].actor == "isp:east-net"


def test_pull_api_is_served_by_the_web_app(site: Site) -> None:
    """/api/isp/v1 answers JSON: 401 without a token, the ISP's own cases with one."""
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    assert site.client.get("/api/isp/v1/cases").status_code == 401
    assert (
        site.client.get("/api/isp/v1/cases").headers["content-type"].startswith("application/json")
    )
    _, token = create_token(engine, "east-net")
    listed = site.client.get("/api/isp/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    ips = {c["ip"] for c in listed.json()}
    assert INFECTED_IP in ips and OTHER_IP not in ips


def test_revoking_the_token_ends_the_portal_session(site: Site) -> None:
    """A signed-in ISP is sent back to sign-in as soon as its token is revoked."""
    from iotnotice.notify.tokens import revoke_token

    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    token_id, token = create_token(engine, "east-net")
    assert post_form(site.client, "/isp/login", {"token": token}).status_code == 303
    assert site.client.get("/isp/cases", follow_redirects=False).status_code == 200
    revoke_token(engine, token_id)
    assert site.client.get("/isp/cases", follow_redirects=False).status_code == 303
