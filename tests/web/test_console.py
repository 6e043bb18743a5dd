"""Operator console: case evidence and status changes, the inquiry queue with e-mailed replies."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select
from web_site import INFECTED_IP, Site, post_form

from iotnotice.db import session_scope
from iotnotice.db.models import Case, CaseEvent, Inquiry, OutboxMessage
from iotnotice.web.accounts import create_operator
from iotnotice.web.i18n import MESSAGES

EN = MESSAGES["en"]


def _sign_in(site: Site, name: str, role: str) -> None:
    create_operator(site.client.app.state.engine, name, "a good long password", role)  # type: ignore[attr-defined]
    page = post_form(
        site.client, "/operator/login", {"username": name, "password": "a good long password"}
    )
    assert page.status_code == 303


def test_case_page_shows_evidence_and_operator_changes_status(site: Site) -> None:
    """The case page shows the IP; an operator's status change is recorded with its actor."""
    _sign_in(site, "olga", "operator")
    page = site.client.get(f"/operator/cases/{site.genuine}?lang=en")
    assert page.status_code == 200 and INFECTED_IP in page.text and EN["evidence"] in page.text
    path = f"/operator/cases/{site.genuine}"
    moved = post_form(
        site.client, path, {"to_status": "notified", "note": "called"}, path + "/status"
    )
    assert moved.status_code == 303
    illegal = post_form(site.client, path, {"to_status": "new"}, path + "/status")
    assert illegal.status_code == 400
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        case = session.scalar(select(Case).where(Case.notice_id == site.genuine))
        assert case is not None and case.status == "notified"
        event = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id))
        assert event is not None and event.actor == "operator:olga" and event.note == "called"


def test_viewer_cannot_change_a_case(site: Site) -> None:
    """A viewer sees the case but a status change is refused with 403."""
    _sign_in(site, "vera", "viewer")
    path = f"/operator/cases/{site.genuine}"
    assert site.client.get(path).status_code == 200
    refused = post_form(site.client, path, {"to_status": "resolved"}, path + "/status")
    assert refused.status_code == 403


def test_inquiry_reply_is_emailed_and_kept_in_the_history(site: Site) -> None:
    """A subscriber's inquiry gets a receipt; the operator's reply is queued and shown."""
    filed = post_form(
        site.client,
        "/inquiry?lang=en",
        {"email": "hanako@example.jp", "message": "My router is slow", "notice_id": site.genuine},
    )
    reference = filed.text.split('id="reference">')[1].split("<")[0]
    _sign_in(site, "olga", "operator")
    queue = site.client.get("/operator/inquiries").text
    assert reference in queue
    path = f"/operator/inquiries/{reference}"
    sent = post_form(site.client, path, {"body": "Please reset it."}, path + "/reply")
    assert sent.status_code == 303
    history = site.client.get(path + "?lang=en").text
    assert "My router is slow" in history and "Please reset it." in history
    assert reference not in site.client.get("/operator/inquiries").text
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        ticket = session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        assert ticket is not None and ticket.status == "answered"
        assert ticket.notice_id == site.genuine
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.period == reference)
        ).all()
        assert [m.recipients for m in mails] == [["hanako@example.jp"]] * 2
        reply = message_from_bytes(Path(mails[1].path).read_bytes(), policy=policy.default)
    assert reference in str(reply["Subject"]) and "Please reset it." in reply.get_content()
