"""Operator console, second half: case evidence and status changes, the inquiry queue."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from iotnotice.cases.lifecycle import TRANSITIONS, IllegalTransition, transition
from iotnotice.db import session_scope
from iotnotice.db.models import Case, Inquiry, InquiryMessage
from iotnotice.web.inquiries import reply_to_inquiry
from iotnotice.web.operator import deny
from iotnotice.web.render import current_language, link, render
from iotnotice.web.security import check_csrf

__all__ = ["router"]

router = APIRouter(prefix="/operator")


def _stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@router.get("/cases/{notice_id}", response_model=None)
def case_detail(request: Request, notice_id: str) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    with session_scope(request.app.state.engine) as session:
        case = session.scalar(select(Case).where(Case.notice_id == notice_id))
        if case is None:
            return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
        context = {
            "case": {
                "notice_id": case.notice_id,
                "ip": case.ip,
                "family": case.family,
                "status": case.status,
                "isp": case.isp.name if case.isp else None,
                "asn": case.asn,
                "country": case.country,
                "ports": case.ports,
                "packets": case.packets,
                "confidence": case.confidence,
                "first_seen": _stamp(case.first_seen),
                "last_seen": _stamp(case.last_seen),
            },
            "evidence": json.dumps(case.evidence, indent=2, ensure_ascii=False, default=str),
            "events": [
                {
                    "at": _stamp(e.at),
                    "actor": e.actor,
                    "from": e.from_status,
                    "to": e.to_status,
                    "note": e.note,
                }
                for e in case.events
            ],
            "next_statuses": sorted(TRANSITIONS.get(case.status, ())),
        }
    return render(request, "case_detail.html", context)


@router.post("/cases/{notice_id}/status", response_model=None)
def case_status(
    request: Request,
    notice_id: str,
    to_status: str = Form(""),
    note: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    if (denied := deny(request, "operator")) is not None:
        return denied
    if not check_csrf(request, csrf):
        return render(request, "message.html", {"message": "csrf_failed"}, status_code=400)
    actor = f"operator:{request.session['user']['name']}"
    with session_scope(request.app.state.engine) as session:
        case = session.scalar(select(Case).where(Case.notice_id == notice_id))
        if case is None:
            return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
        try:
            transition(session, case, to_status, actor, note[:2000])
        except IllegalTransition:
            return render(
                request, "message.html", {"message": "illegal_transition"}, status_code=400
            )
    return RedirectResponse(link(f"/operator/cases/{notice_id}", current_language(request)), 303)


@router.get("/inquiries", response_model=None)
def inquiries(request: Request, status: str = "open") -> Response:
    if (denied := deny(request)) is not None:
        return denied
    query = select(Inquiry).order_by(Inquiry.created_at.desc()).limit(500)
    if status in ("open", "answered"):
        query = query.where(Inquiry.status == status)
    with session_scope(request.app.state.engine) as session:
        rows = [
            {
                "reference": i.reference,
                "created": _stamp(i.created_at),
                "status": i.status,
                "language": i.language,
                "notice_id": i.notice_id,
                "preview": i.message[:80],
            }
            for i in session.scalars(query)
        ]
    return render(request, "inquiries.html", {"rows": rows, "selected": status})


@router.get("/inquiries/{reference}", response_model=None)
def inquiry_detail(request: Request, reference: str) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    with session_scope(request.app.state.engine) as session:
        inquiry = session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        if inquiry is None:
            return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
        history = [
            {
                "at": _stamp(m.at),
                "author": m.author,
                "direction": m.direction,
                "body": m.body,
                "emailed": bool(m.email_message_id),
            }
            for m in session.scalars(
                select(InquiryMessage)
                .where(InquiryMessage.inquiry_id == inquiry.id)
                .order_by(InquiryMessage.at, InquiryMessage.id)
            )
        ]
        ticket = {
            "reference": inquiry.reference,
            "name": inquiry.name,
            "email": inquiry.email,
            "notice_id": inquiry.notice_id,
            "status": inquiry.status,
        }
    return render(request, "inquiry_detail.html", {"ticket": ticket, "history": history})


@router.post("/inquiries/{reference}/reply", response_model=None)
def inquiry_reply(
    request: Request, reference: str, body: str = Form(""), csrf: str = Form("")
) -> Response:
    if (denied := deny(request, "operator")) is not None:
        return denied
    if not check_csrf(request, csrf):
        return render(request, "message.html", {"message": "csrf_failed"}, status_code=400)
    if body.strip():
        state = request.app.state
        reply_to_inquiry(
            state.settings, state.engine, reference, request.session["user"]["name"], body
        )
    return RedirectResponse(
        link(f"/operator/inquiries/{reference}", current_language(request)), 303
    )
