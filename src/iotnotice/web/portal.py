"""The ISP portal: sign in with the ISP's API token; own cases, status updates, own reports."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import FileResponse, RedirectResponse, Response

from iotnotice.cases.lifecycle import IllegalTransition, transition
from iotnotice.db import session_scope
from iotnotice.db.models import Case, Isp, IspApiToken, Report
from iotnotice.notify.tokens import authenticate
from iotnotice.stats.remediation import remediation
from iotnotice.web.render import current_language, link, render
from iotnotice.web.security import check_csrf

__all__ = ["ISP_STATUSES", "router"]

router = APIRouter(prefix="/isp")

# What an ISP may report back about its own cases.
ISP_STATUSES: tuple[str, ...] = ("acknowledged", "resolved")


def _isp(request: Request) -> str | None:
    """The signed-in ISP, checked against its token on every request (revocation ends it)."""
    token_id = request.session.get("isp_token")
    if not isinstance(token_id, int):
        return None
    with session_scope(request.app.state.engine) as session:
        row = session.get(IspApiToken, token_id)
        live = row is not None and row.revoked_at is None
        return row.isp.name if live and row is not None else None


def _to_login(request: Request) -> Response:
    return RedirectResponse(link("/isp/login", current_language(request)), 303)


@router.get("/login", response_model=None)
def login_form(request: Request) -> Response:
    return render(request, "isp_login.html")


@router.post("/login", response_model=None)
def login(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
    if not check_csrf(request, csrf):
        return render(request, "isp_login.html", {"error": "csrf_failed"}, status_code=400)
    with session_scope(request.app.state.engine) as session:
        row = authenticate(session, token.strip())
        token_id = row.id if row is not None else None
    if token_id is None:
        return render(request, "isp_login.html", {"error": "isp_login_failed"}, status_code=401)
    request.session.clear()
    request.session["isp_token"] = token_id
    return RedirectResponse(link("/isp/cases", current_language(request)), 303)


@router.get("/cases", response_model=None)
def cases(request: Request) -> Response:
    if (isp := _isp(request)) is None:
        return _to_login(request)
    with session_scope(request.app.state.engine) as session:
        rows = [
            {
                "notice_id": c.notice_id,
                "ip": c.ip,
                "family": c.family,
                "status": c.status,
                "first_seen": c.first_seen.strftime("%Y-%m-%d %H:%M"),
                "last_seen": c.last_seen.strftime("%Y-%m-%d %H:%M"),
                "packets": c.packets,
            }
            for c in session.scalars(
                select(Case)
                .join(Isp, Case.isp_id == Isp.id)
                .where(Isp.name == isp)
                .order_by(Case.last_seen.desc())
            )
        ]
        reports = [
            {
                "id": r.id,
                "period": r.period,
                "format": r.format,
                "cases": r.case_count,
                "name": Path(r.path).name,
            }
            for r in session.scalars(
                select(Report)
                .join(Isp, Report.isp_id == Isp.id)
                .where(Isp.name == isp)
                .order_by(Report.created_at.desc())
            )
        ]
    figures = next((r for r in remediation(request.app.state.engine) if r["isp"] == isp), None)
    context = {
        "isp": isp,
        "rows": rows,
        "reports": reports,
        "isp_statuses": ISP_STATUSES,
        "figures": figures,
    }
    return render(request, "isp_cases.html", context)


def _own_case(session: Session, isp: str, notice_id: str) -> Case | None:
    return session.scalar(
        select(Case)
        .join(Isp, Case.isp_id == Isp.id)
        .where(Case.notice_id == notice_id, Isp.name == isp)
    )


@router.post("/cases/{notice_id}/status", response_model=None)
def case_status(
    request: Request, notice_id: str, to_status: str = Form(""), csrf: str = Form("")
) -> Response:
    if (isp := _isp(request)) is None:
        return _to_login(request)
    if not check_csrf(request, csrf):
        return render(request, "message.html", {"message": "csrf_failed"}, status_code=400)
    with session_scope(request.app.state.engine) as session:
        case = _own_case(session, isp, notice_id)
        # Another ISP's case answers exactly like a missing one.
        if case is None:
            return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
        if to_status not in ISP_STATUSES:
            return render(
                request, "message.html", {"message": "illegal_transition"}, status_code=400
            )
        try:
            transition(session, case, to_status, f"isp:{isp}", "reported in the ISP portal")
        except IllegalTransition:
            return render(
                request, "message.html", {"message": "illegal_transition"}, status_code=400
            )
    return RedirectResponse(link("/isp/cases", current_language(request)), 303)


@router.get("/reports/{report_id}", response_model=None)
def report_file(request: Request, report_id: int) -> Response:
    if (isp := _isp(request)) is None:
        return _to_login(request)
    with session_scope(request.app.state.engine) as session:
        report = session.scalar(
            select(Report)
            .join(Isp, Report.isp_id == Isp.id)
            .where(Report.id == report_id, Isp.name == isp)
        )
        path = Path(report.path) if report is not None else None
    if path is None or not path.is_file():
        return render(request, "message.html", {"message": "not_found_page"}, status_code=404)
    return FileResponse(path, filename=path.name)


@router.post("/logout", response_model=None)
def logout(request: Request, csrf: str = Form("")) -> Response:
    if check_csrf(request, csrf):
        request.session.clear()
    return RedirectResponse(link("/", current_language(request)), 303)
