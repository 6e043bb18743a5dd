"""Operator console: ISP registry, delivery retry, accounts managed by admins only."""

from __future__ import annotations

from sqlalchemy import select
from web_site import Site, post_form

from iotnotice.db import session_scope
from iotnotice.db.models import OperatorUser, OutboxMessage
from iotnotice.web.accounts import create_operator


def _sign_in(site: Site, name: str, role: str) -> None:
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    create_operator(engine, name, "a good long password", role)
    page = post_form(
        site.client, "/operator/login", {"username": name, "password": "a good long password"}
    )
    assert page.status_code == 303


def test_registry_and_failed_delivery_retry(site: Site) -> None:
    """The registry lists ISPs; a failed e-mail goes back to pending with the retry button."""
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        row = OutboxMessage(
            message_id="<m1@x>",
            period="2026-11-25",
            path="/nonexistent",
            recipients=["abuse@east.example"],
            status="failed",
            attempts=6,
            last_error="550 mailbox unavailable",
        )
        session.add(row)
        session.flush()
        row_id = row.id
    _sign_in(site, "olga", "operator")
    assert "east-net" in site.client.get("/operator/isps").text
    page = site.client.get("/operator/deliveries").text
    assert "550 mailbox unavailable" in page and f"/operator/deliveries/{row_id}/retry" in page
    done = post_form(
        site.client, "/operator/deliveries", {}, f"/operator/deliveries/{row_id}/retry"
    )
    assert done.status_code == 303
    with session_scope(engine) as session:
        again = session.get(OutboxMessage, row_id)
        assert again is not None and again.status == "pending" and again.attempts == 0


def test_only_admins_manage_accounts(site: Site) -> None:
    """An operator gets 403 on accounts; an admin adds a viewer whose hash is argon2."""
    _sign_in(site, "olga", "operator")
    assert site.client.get("/operator/accounts").status_code == 403
    _sign_in(site, "ada", "admin")
    added = post_form(
        site.client,
        "/operator/accounts",
        {"username": "newbie", "password": "long enough pw", "role": "viewer"},
    )
    assert added.status_code == 303
    weak = post_form(
        site.client, "/operator/accounts", {"username": "x", "password": "short", "role": "viewer"}
    )
    assert weak.status_code == 400
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        user = session.scalar(select(OperatorUser).where(OperatorUser.username == "newbie"))
        assert user is not None and user.role == "viewer"
        assert user.password_hash.startswith("$argon2id$")
        assert session.scalar(select(OperatorUser).where(OperatorUser.username == "x")) is None
