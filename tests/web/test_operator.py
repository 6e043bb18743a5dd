"""Operator console: sign-in with argon2 hashes, CSRF, case filters, dashboard charts."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from web_site import INFECTED_IP, OTHER_IP, Site, post_form

from iotnotice.db import session_scope
from iotnotice.db.models import OperatorUser
from iotnotice.errors import IotnoticeError
from iotnotice.web.accounts import create_operator, role_at_least
from iotnotice.web.i18n import MESSAGES

EN = MESSAGES["en"]


def _login(site: Site, password: str = "correct horse battery") -> int:
    page = post_form(
        site.client,
        "/operator/login",
        {"username": "alice", "password": password, "next": "/operator/cases"},
    )
    return page.status_code


def test_cases_need_a_signed_in_operator(site: Site) -> None:
    """Without a session the case list redirects to sign-in and shows no IP address."""
    page = site.client.get("/operator/cases", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/operator/login")
    assert INFECTED_IP not in page.text


def test_wrong_password_is_refused(site: Site) -> None:
    """A wrong password gives 401 and no session."""
    assert _login(site, "wrong password!") == 401
    assert site.client.get("/operator/cases", follow_redirects=False).status_code == 303


def test_signed_in_operator_filters_cases_by_status_and_isp(site: Site) -> None:
    """After sign-in the list shows all cases; filters narrow it by status and ISP."""
    assert _login(site) == 303
    everything = site.client.get("/operator/cases").text
    assert INFECTED_IP in everything and OTHER_IP in everything
    resolved = site.client.get("/operator/cases?status=resolved").text
    assert OTHER_IP in resolved and INFECTED_IP not in resolved
    east = site.client.get("/operator/cases?isp=east-net").text
    assert INFECTED_IP in east and OTHER_IP not in east
    none = site.client.get("/operator/cases?isp=_unassigned&lang=en").text
    assert EN["cases_none"] in none


def test_case_list_is_paged_and_keeps_filters(site: Site) -> None:
    """Beyond one page the list shows the true total and links to the next page with its filters."""
    from datetime import UTC, datetime

    from iotnotice.cases.notice_id import new_notice_id
    from iotnotice.db import session_scope
    from iotnotice.db.models import Case
    from iotnotice.web.operator import PAGE_SIZE

    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        for i in range(PAGE_SIZE + 5):
            session.add(
                Case(
                    notice_id=new_notice_id(),
                    ip=f"10.9.{i // 250}.{i % 250}",
                    family="mirai",
                    confidence=0.9,
                    first_seen=seen,
                    last_seen=seen,
                    status="new",
                )
            )
    assert _login(site) == 303
    first = site.client.get("/operator/cases?status=new&lang=en").text
    assert '<span id="case-count">106</span>' in first
    assert first.count("/operator/cases/") - first.count("/operator/cases/status") >= PAGE_SIZE
    assert 'rel="next" href="/operator/cases?status=new&amp;page=2&amp;lang=en"' in first
    second = site.client.get("/operator/cases?status=new&page=2&lang=en").text
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert second.count("<tr>") - 1 == 6


def test_dashboard_draws_charts_without_javascript(site: Site) -> None:
    """The dashboard embeds server-drawn SVG charts and no script tags."""
    assert _login(site) == 303
    page = site.client.get("/operator/dashboard?lang=en").text
    assert page.count("<svg") >= 2 and "<script" not in page
    assert EN["dashboard_cases_by_isp"] in page and "east-net" in page


def test_passwords_are_stored_as_argon2_hashes(site: Site) -> None:
    """Accounts keep an argon2id hash, never the password; weak passwords and roles are refused."""
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        user = session.scalar(select(OperatorUser).where(OperatorUser.username == "alice"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
    with pytest.raises(IotnoticeError):
        create_operator(engine, "bob", "short", "viewer")
    with pytest.raises(IotnoticeError):
        create_operator(engine, "bob", "long enough pw", "root")
    assert role_at_least("admin", "operator") and not role_at_least("viewer", "operator")
