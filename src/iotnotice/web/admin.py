"""Operator console, third part: ISP registry, delivery state with retry, operator accounts."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from iotnotice.db import session_scope
from iotnotice.db.models import Isp, OperatorUser, OutboxMessage, utcnow
from iotnotice.errors import IotnoticeError
from iotnotice.web.accounts import ROLES, create_operator
from iotnotice.web.operator import deny
from iotnotice.web.render import current_language, link, render
from iotnotice.web.security import check_csrf

__all__ = ["router"]

router = APIRouter(prefix="/operator")


@router.get("/isps", response_model=None)
def isps(request: Request) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    with session_scope(request.app.state.engine) as session:
        rows = [
            {
                "name": i.name,
                "display": i.display_name_ja or i.display_name,
                "country": i.country,
                "asns": ", ".join(str(a) for a in i.asns or []),
                "contacts": ", ".join(i.contacts or []),
                "delivery": i.delivery,
                "language": i.language,
            }
            for i in session.scalars(select(Isp).order_by(Isp.name))
        ]
    return render(request, "isps.html", {"rows": rows})


@router.get("/deliveries", response_model=None)
def deliveries(request: Request) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    with session_scope(request.app.state.engine) as session:
        rows = [
            {
                "id": m.id,
                "period": m.period,
                "recipients": ", ".join(m.recipients or []),
                "status": m.status,
                "attempts": m.attempts,
                "error": m.last_error,
                "created": m.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for m in session.scalars(
                select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(500)
            )
        ]
    return render(request, "deliveries.html", {"rows": rows})


@router.post("/deliveries/{message_id}/retry", response_model=None)
def retry(request: Request, message_id: int, csrf: str = Form("")) -> Response:
    if (denied := deny(request, "operator")) is not None:
        return denied
    if not check_csrf(request, csrf):
        return render(request, "message.html", {"message": "csrf_failed"}, status_code=400)
    with session_scope(request.app.state.engine) as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
        # Back in the queue, due now; the next deliver_outbox pass sends it.
        if row.status == "failed":
            row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    return RedirectResponse(link("/operator/deliveries", current_language(request)), 303)


@router.get("/accounts", response_model=None)
def accounts(request: Request) -> Response:
    if (denied := deny(request, "admin")) is not None:
        return denied
    return _accounts_page(request)


def _accounts_page(request: Request, error: str = "", status_code: int = 200) -> Response:
    with session_scope(request.app.state.engine) as session:
        rows = [
            {"username": u.username, "role": u.role, "active": u.active}
            for u in session.scalars(select(OperatorUser).order_by(OperatorUser.username))
        ]
    context = {"rows": rows, "roles": ROLES, "error": error}
    return render(request, "accounts.html", context, status_code=status_code)


@router.post("/accounts", response_model=None)
def add_account(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    role: str = Form("viewer"),
    csrf: str = Form(""),
) -> Response:
    if (denied := deny(request, "admin")) is not None:
        return denied
    if not check_csrf(request, csrf):
        return _accounts_page(request, "csrf_failed", 400)
    try:
        create_operator(request.app.state.engine, username.strip(), password, role)
    except IotnoticeError:
        return _accounts_page(request, "account_invalid", 400)
    return RedirectResponse(link("/operator/accounts", current_language(request)), 303)
