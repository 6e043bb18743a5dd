"""Helpers and fixtures of the web tests: an app over a real SQLite database in tmp_path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from iotnotice.cases.notice_id import new_notice_id
from iotnotice.db import session_scope
from iotnotice.db.models import Case, Isp
from iotnotice.settings import load_settings
from iotnotice.web import create_app
from iotnotice.web.accounts import create_operator

INFECTED_IP = "198.51.100.23"
OTHER_IP = "192.0.2.77"


@dataclass
class Site:
    """A test client and the notice IDs of the cases it holds."""

    client: TestClient
    genuine: str
    other: str


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def post_form(client: TestClient, page: str, data: dict[str, str], action: str | None = None):
    """GET a page for its CSRF token, then POST the form to it."""
    token = csrf_of(client.get(page).text)
    return client.post(action or page, data={**data, "csrf": token}, follow_redirects=False)


def _case(notice: str, ip: str, isp: Isp | None, status: str) -> Case:
    return Case(
        notice_id=notice,
        ip=ip,
        isp=isp,
        family="mirai",
        confidence=0.99,
        first_seen=datetime(2026, 11, 20, 3, 4, tzinfo=UTC),
        last_seen=datetime(2026, 11, 24, 22, 0, tzinfo=UTC),
        packets=1234,
        ports="23/tcp,2323/tcp",
        status=status,
        created_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """An app with two cases at two ISPs, one operator account, proxy header trusted."""
    settings = load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        verify_rate_limit=5,
        trusted_proxy_header="X-Forwarded-For",
        support_phone="0120-123-456",
    )
    app = create_app(settings)
    genuine, other = new_notice_id(), new_notice_id()
    with session_scope(app.state.engine) as session:
        east = Isp(name="east-net", display_name="East Net")
        west = Isp(name="west-net", display_name="West Net")
        session.add_all(
            [_case(genuine, INFECTED_IP, east, "new"), _case(other, OTHER_IP, west, "resolved")]
        )
    create_operator(app.state.engine, "alice", "correct horse battery", "viewer")
    with TestClient(app) as client:
        yield Site(client, genuine, other)
    app.state.engine.dispose()
