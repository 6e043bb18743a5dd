"""The operator console: sign-in, case list with filters, dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import func, select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from iotnotice.cases.lifecycle import STATUSES
from iotnotice.db import session_scope
from iotnotice.db.models import Case, Inquiry, Isp
from iotnotice.stats import statistics, top_ports
from iotnotice.stats.hosts import infected_per_day
from iotnotice.stats.remediation import remediation
from iotnotice.web.accounts import authenticate, role_at_least
from iotnotice.web.charts import bar_chart_svg
from iotnotice.web.i18n import translator
from iotnotice.web.render import current_language, link, render
from iotnotice.web.security import check_csrf

__all__ = ["deny", "router"]

router = APIRouter(prefix="/operator")

UNASSIGNED = "_unassigned"


def deny(request: Request, needed: str = "viewer") -> Response | None:
    """A redirect to sign-in (or 403) unless the session's role suffices."""
    user = request.session.get("user")
    if not user:
        return RedirectResponse(
            link("/operator/login", current_language(request), next=request.url.path), 303
        )
    if not role_at_least(user.get("role"), needed):
        return render(request, "message.html", {"message": "forbidden"}, status_code=403)
    return None


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/operator/cases") -> HTMLResponse:
    return render(request, "login.html", {"next": next})


@router.post("/login", response_model=None)
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/operator/cases"),
) -> Response:
    if not check_csrf(request, csrf):
        return render(
            request, "login.html", {"next": next, "error": "csrf_failed"}, status_code=400
        )
    found = authenticate(request.app.state.engine, username, password)
    if found is None:
        return render(
            request, "login.html", {"next": next, "error": "login_failed"}, status_code=401
        )
    request.session.clear()
    request.session["user"] = {"name": found[0], "role": found[1]}
    # Only ever redirect inside the operator console (no open redirect).
    target = next if next.startswith("/operator/") else "/operator/cases"
    return RedirectResponse(link(target, current_language(request)), 303)


@router.post("/logout", response_model=None)
def logout(request: Request, csrf: str = Form("")) -> Response:
    if check_csrf(request, csrf):
        request.session.clear()
    return RedirectResponse(link("/", current_language(request)), 303)


PAGE_SIZE = 100


@router.get("/cases", response_model=None)
def cases(request: Request, status: str = "", isp: str = "", page: int = 1) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    query = select(Case, Isp.name).outerjoin(Isp, Case.isp_id == Isp.id)
    if status in STATUSES:
        query = query.where(Case.status == status)
    if isp == UNASSIGNED:
        query = query.where(Case.isp_id.is_(None))
    elif isp:
        query = query.where(Isp.name == isp)
    with session_scope(request.app.state.engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, page), pages)
        ordered = query.order_by(Case.last_seen.desc(), Case.id.desc())
        window = ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        rows = [_case_row(c, name) for c, name in session.execute(window)]
        isps = list(session.scalars(select(Isp.name).order_by(Isp.name)))
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "first_row": (page - 1) * PAGE_SIZE + 1 if rows else 0,
        "last_row": (page - 1) * PAGE_SIZE + len(rows),
        "statuses": STATUSES,
        "isps": isps,
        "unassigned": UNASSIGNED,
        "selected": {"status": status, "isp": isp},
    }
    return render(request, "cases.html", context)


def _case_row(case: Case, isp: str | None) -> dict[str, Any]:
    return {
        "notice_id": case.notice_id,
        "ip": case.ip,
        "family": case.family,
        "first_seen": case.first_seen.strftime("%Y-%m-%d %H:%M"),
        "last_seen": case.last_seen.strftime("%Y-%m-%d %H:%M"),
        "packets": case.packets,
        "status": case.status,
        "isp": isp,
    }


@router.get("/dashboard", response_model=None)
def dashboard(request: Request) -> Response:
    if (denied := deny(request)) is not None:
        return denied
    t = translator(current_language(request))
    state = request.app.state
    with session_scope(state.engine) as session:
        by_status = session.execute(
            select(Case.status, func.count()).group_by(Case.status).order_by(Case.status)
        ).all()
        by_isp = session.execute(
            select(func.coalesce(Isp.name, t("unassigned")), func.count())
            .select_from(Case)
            .outerjoin(Isp, Case.isp_id == Isp.id)
            .group_by(Isp.name)
            .order_by(func.count().desc())
        ).all()
        open_inquiries = session.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.status == "open")
        )
    ports = top_ports(state.settings, limit=10)
    days = statistics(state.settings, state.engine, "day")[-31:]
    infected = infected_per_day(state.settings, state.engine)[-31:]
    cleaned = [
        (str(r["isp"]), 100.0 * r["cleaned_14d"])
        for r in remediation(state.engine)
        if r["cleaned_14d"] is not None
    ]
    charts = [
        (t("dashboard_cases_by_status"), [(t(f"status_{s}"), float(n)) for s, n in by_status]),
        (t("dashboard_cases_by_isp"), [(str(name), float(n)) for name, n in by_isp]),
        (
            t("dashboard_top_ports"),
            [(f"{p['port']}/{p['protocol']}", float(p["packets"])) for p in ports],
        ),
        (t("dashboard_packets_per_day"), [(d["period"], float(d["packets"])) for d in days]),
        (t("dashboard_infected_per_day"), [(d["day"], float(d["infected"])) for d in infected]),
        (t("dashboard_remediation"), cleaned),
    ]
    rendered = [(title, bar_chart_svg(title, items) if items else None) for title, items in charts]
    return render(
        request, "dashboard.html", {"charts": rendered, "open_inquiries": open_inquiries or 0}
    )
