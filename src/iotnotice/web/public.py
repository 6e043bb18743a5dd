"""The public support site: home, notice verification, self-check, guidance, inquiries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from starlette.responses import HTMLResponse

from iotnotice.cases.lifecycle import OPEN
from iotnotice.cases.notice_id import normalise
from iotnotice.db import session_scope
from iotnotice.db.models import Case
from iotnotice.web.inquiries import file_inquiry
from iotnotice.web.render import current_language, render
from iotnotice.web.security import check_csrf, client_address

__all__ = ["public_view", "router"]

router = APIRouter()


def public_view(case: Case) -> dict[str, Any]:
    """What the public may learn about a case: never its IP, ISP or anything identifying."""
    return {
        "issued": _day(case.created_at),
        "family": case.family,
        "ports": case.ports,
        "first_seen": _day(case.first_seen),
        "last_seen": _day(case.last_seen),
    }


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/guidance", response_class=HTMLResponse)
def guidance(request: Request) -> HTMLResponse:
    return render(request, "guidance.html")


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request, notice_id: str = "") -> HTMLResponse:
    # A link such as /verify?notice_id=... checks at once (reading only, so no CSRF token).
    if notice_id:
        return _check(request, notice_id)
    return render(request, "verify.html", {"entered": ""})


@router.post("/verify", response_class=HTMLResponse)
def verify(request: Request, notice_id: str = Form(""), csrf: str = Form("")) -> HTMLResponse:
    if not check_csrf(request, csrf):
        return render(
            request, "verify.html", {"entered": notice_id, "error": "csrf_failed"}, status_code=400
        )
    return _check(request, notice_id)


def _check(request: Request, notice_id: str) -> HTMLResponse:
    """Rate-limited lookup: genuine, mistyped (check symbol) or not found."""
    state = request.app.state
    who = client_address(request, state.settings.trusted_proxy_header) or "unknown"
    entered = notice_id[:64]
    if not state.verify_limiter.allow(who):
        context = {"entered": entered, "error": "verify_rate_limited"}
        return render(request, "verify.html", context, status_code=429)
    canonical = normalise(entered)
    if canonical is None:
        return render(request, "verify.html", {"entered": entered, "error": "verify_bad_check"})
    with session_scope(state.engine) as session:
        case = session.scalar(select(Case).where(Case.notice_id == canonical))
        found = public_view(case) if case is not None else None
    if found is None:
        return render(request, "verify.html", {"entered": canonical, "error": "verify_not_found"})
    return render(request, "verify.html", {"entered": canonical, "found": found})


@router.get("/self-check", response_class=HTMLResponse)
def selfcheck_form(request: Request) -> HTMLResponse:
    return render(request, "selfcheck.html")


@router.post("/self-check", response_class=HTMLResponse)
def selfcheck(request: Request, csrf: str = Form("")) -> HTMLResponse:
    if not check_csrf(request, csrf):
        return render(request, "selfcheck.html", {"error": "csrf_failed"}, status_code=400)
    state = request.app.state
    address = client_address(request, state.settings.trusted_proxy_header)
    found = None
    if address is not None:
        with session_scope(state.engine) as session:
            case = session.scalar(
                select(Case)
                .where(Case.ip == address, Case.status.in_(sorted(OPEN)))
                .order_by(Case.last_seen.desc())
                .limit(1)
            )
            found = public_view(case) if case is not None else None
    return render(request, "selfcheck.html", {"checked": True, "found": found})


@router.get("/inquiry", response_class=HTMLResponse)
def inquiry_form(request: Request) -> HTMLResponse:
    return render(request, "inquiry.html", {"form": {}})


@router.post("/inquiry", response_class=HTMLResponse)
def inquiry(
    request: Request,
    name: str = Form(""),
    email: str = Form(""),
    notice_id: str = Form(""),
    message: str = Form(""),
    csrf: str = Form(""),
) -> HTMLResponse:
    form = {"name": name, "email": email, "notice_id": notice_id, "message": message}
    if not check_csrf(request, csrf):
        return render(
            request, "inquiry.html", {"form": form, "error": "csrf_failed"}, status_code=400
        )
    if not message.strip():
        return render(
            request, "inquiry.html", {"form": form, "error": "inquiry_empty"}, status_code=400
        )
    state = request.app.state
    reference = file_inquiry(
        state.settings,
        state.engine,
        message,
        name=name,
        email=email,
        notice_id=notice_id,
        language=current_language(request),
    )
    return render(request, "inquiry_done.html", {"reference": reference})
