"""The ISP pull API: each ISP lists and downloads only its own cases and reports, and posts
status updates back. Bearer tokens per ISP (stored hashed); every request, allowed or not,
is written to the audit log. Serve :func:`create_isp_api` on its own or mount it into the web
UI (see its docstring); the OpenAPI document is FastAPI's.

Another ISP's case answers 404 exactly like a missing one, so existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from iotnotice.cases.lifecycle import STATUSES, IllegalTransition, record_event, transition
from iotnotice.cases.manage import NOT_OURS, aware
from iotnotice.cases.notice_id import normalise
from iotnotice.db.engine import connect, session_scope
from iotnotice.db.models import ApiAuditEntry, Case, Report
from iotnotice.notify.shadowserver import parse_ports
from iotnotice.notify.tokens import authenticate
from iotnotice.settings import Settings

__all__ = ["create_isp_api", "isp_api_router"]

PREFIX = "/api/isp/v1"
_bearer = HTTPBearer(auto_error=False, description="Per-ISP API token (ino_...)")


class CaseOut(BaseModel):
    """A case as the ISP sees it."""

    notice_id: str
    ip: str
    status: str
    family: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    packets: int
    ports: list[str]
    asn: int | None
    country: str | None
    reinfection: bool
    last_reported_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str


class CaseDetail(CaseOut):
    events: list[EventOut]


class ReportOut(BaseModel):
    id: int
    period: str
    format: str
    filename: str
    sha256: str
    case_count: int
    created_at: datetime


class StatusUpdate(BaseModel):
    """What the ISP reports back about a case."""

    status: Literal["acknowledged", "subscriber_alerted", "quarantined", "resolved", "not_ours"]
    note: str = Field("", max_length=2000)


class StatusResult(BaseModel):
    notice_id: str
    status: str
    recorded: str


@dataclass(frozen=True)
class Caller:
    """The authenticated ISP behind a request."""

    isp_id: int
    isp_name: str
    token_id: int


def _audit(
    engine: Engine,
    request: Request,
    action: str,
    status: int,
    caller: Caller | None,
    detail: str = "",
) -> None:
    with session_scope(engine) as session:
        session.add(
            ApiAuditEntry(
                isp_id=caller.isp_id if caller else None,
                token_id=caller.token_id if caller else None,
                method=request.method,
                path=request.url.path,
                action=action,
                status=status,
                detail=detail[:500],
            )
        )


def _case_out(case: Case) -> dict[str, object]:
    return {
        "notice_id": case.notice_id,
        "ip": case.ip,
        "status": case.status,
        "family": case.family,
        "confidence": case.confidence,
        "first_seen": aware(case.first_seen),
        "last_seen": aware(case.last_seen),
        "packets": case.packets,
        "ports": [f"{p}/{t}" for p, t in parse_ports(case.ports)],
        "asn": case.asn,
        "country": case.country,
        "reinfection": case.reinfection_of is not None,
        "last_reported_at": aware(case.last_reported_at) if case.last_reported_at else None,
    }


def _own_case(session: Session, caller: Caller, notice_id: str) -> Case | None:
    canonical = normalise(notice_id)
    if canonical is None:
        return None
    stmt = (
        select(Case)
        .where(Case.notice_id == canonical, Case.isp_id == caller.isp_id)
        .options(selectinload(Case.events))
    )
    return session.scalars(stmt).one_or_none()


def _apply(session: Session, case: Case, update: StatusUpdate, actor: str) -> str:
    """Carry out an ISP's status update; returns what was recorded."""
    note = update.note
    if update.status == "not_ours":
        record_event(
            session,
            case,
            actor,
            case.status,
            f"{NOT_OURS} {note}".strip(),
            from_status=case.status,
        )
        case.isp_id = None  # back to the unassigned list for the coordinator to review
        return "case returned to the coordinator as not belonging to this ISP"
    if update.status in ("subscriber_alerted", "quarantined"):
        what = (
            "subscriber alerted"
            if update.status == "subscriber_alerted"
            else ("subscriber placed in the walled garden")
        )
        note = f"{what}. {note}".strip()
        if case.status in ("new", "notified"):
            transition(session, case, "acknowledged", actor, note)
        else:
            record_event(session, case, actor, case.status, note, from_status=case.status)
        return f"{what} recorded"
    if case.status != update.status:
        transition(session, case, update.status, actor, note)
    return f"status {update.status}"


def _routes(
    router: APIRouter, settings: Settings, engine: Engine, caller_dep: Callable[..., Caller]
) -> None:
    # Default-argument style: with postponed annotations FastAPI resolves names from globals.
    auth = Depends(caller_dep)

    def not_found(request: Request, action: str, caller: Caller, what: str) -> HTTPException:
        _audit(engine, request, action, 404, caller, what)
        return HTTPException(404, f"no such {what.split(' ')[0]} for this ISP")

    @router.get("/cases", response_model=list[CaseOut], summary="List this ISP's cases")
    def list_cases(
        request: Request,
        caller: Caller = auth,
        status: Annotated[str | None, Query(description="Only this status")] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> list[dict[str, object]]:
        if status is not None and status not in STATUSES:
            _audit(engine, request, "list_cases", 422, caller, f"bad status {status!r}")
            raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
        stmt = select(Case).where(Case.isp_id == caller.isp_id).order_by(Case.id).limit(limit)
        if status is not None:
            stmt = stmt.where(Case.status == status)
        with session_scope(engine) as session:
            out = [_case_out(c) for c in session.scalars(stmt)]
        _audit(engine, request, "list_cases", 200, caller, f"{len(out)} cases")
        return out

    @router.get("/cases/{notice_id}", response_model=CaseDetail, summary="One case")
    def get_case(request: Request, notice_id: str, caller: Caller = auth) -> dict[str, object]:
        with session_scope(engine) as session:
            case = _own_case(session, caller, notice_id)
            if case is None:
                raise not_found(request, "get_case", caller, f"case {notice_id}")
            out = _case_out(case)
            out["events"] = [
                {
                    "at": aware(e.at),
                    "actor": e.actor,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "note": e.note,
                }
                for e in case.events
            ]
        _audit(engine, request, "get_case", 200, caller, str(out["notice_id"]))
        return out

    @router.post(
        "/cases/{notice_id}/status",
        response_model=StatusResult,
        summary="Report back: acknowledged, subscriber alerted, resolved, not ours",
    )
    def post_status(
        request: Request, notice_id: str, update: StatusUpdate, caller: Caller = auth
    ) -> StatusResult:
        actor = f"isp:{caller.isp_name}"
        with session_scope(engine) as session:
            case = _own_case(session, caller, notice_id)
            if case is None:
                raise not_found(request, "update_status", caller, f"case {notice_id}")
            try:
                recorded = _apply(session, case, update, actor)
            except IllegalTransition as exc:
                session.rollback()
                _audit(engine, request, "update_status", 409, caller, str(exc))
                raise HTTPException(409, str(exc)) from None
            result = StatusResult(notice_id=case.notice_id, status=case.status, recorded=recorded)
        _audit(engine, request, "update_status", 200, caller, f"{notice_id}: {update.status}")
        return result

    @router.get("/reports", response_model=list[ReportOut], summary="List this ISP's reports")
    def list_reports(request: Request, caller: Caller = auth) -> list[dict[str, object]]:
        stmt = select(Report).where(Report.isp_id == caller.isp_id).order_by(Report.id)
        with session_scope(engine) as session:
            out = [
                {
                    "id": r.id,
                    "period": r.period,
                    "format": r.format,
                    "filename": Path(r.path).name,
                    "sha256": r.sha256,
                    "case_count": r.case_count,
                    "created_at": aware(r.created_at),
                }
                for r in session.scalars(stmt)
            ]
        _audit(engine, request, "list_reports", 200, caller, f"{len(out)} reports")
        return out

    @router.get(
        "/reports/{report_id}/file", response_class=FileResponse, summary="Download one report file"
    )
    def download(request: Request, report_id: int, caller: Caller = auth) -> FileResponse:
        with session_scope(engine) as session:
            report = session.get(Report, report_id)
            ok = report is not None and report.isp_id == caller.isp_id
            path = Path(report.path).resolve() if report is not None else None
        outbox = settings.outbox_path.resolve()
        if not ok or path is None or not path.is_relative_to(outbox) or not path.is_file():
            raise not_found(request, "download_report", caller, f"report {report_id}")
        _audit(engine, request, "download_report", 200, caller, path.name)
        media = {".csv": "text/csv", ".json": "application/json", ".eml": "message/rfc822"}
        return FileResponse(
            path, media_type=media.get(path.suffix, "application/octet-stream"), filename=path.name
        )


def isp_api_router(settings: Settings, engine: Engine, prefix: str = PREFIX) -> APIRouter:
    """The pull API's routes, under ``prefix`` (default /api/isp/v1), bound to one database."""
    router = APIRouter(prefix=prefix, tags=["ISP API"])

    def caller(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Caller:
        with session_scope(engine) as session:
            row = authenticate(session, creds.credentials) if creds else None
            found = Caller(row.isp_id, row.isp.name, row.id) if row is not None else None
        if found is None:
            _audit(
                engine,
                request,
                "auth_failed",
                401,
                None,
                "no token" if creds is None else "unknown or revoked token",
            )
            raise HTTPException(
                401, "a valid ISP API token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    _routes(router, settings, engine, caller)
    return router


def create_isp_api(
    settings: Settings, engine: Engine | None = None, prefix: str = PREFIX
) -> FastAPI:
    """A FastAPI app serving only the ISP pull API (JSON errors, its own OpenAPI document).

    To serve it inside the web UI: ``app.mount("/api/isp", create_isp_api(settings, engine,
    prefix="/v1"))`` keeps the same URLs and documents them at ``/api/isp/docs``.
    """
    app = FastAPI(
        title="iotnotice ISP API",
        version="1",
        description="Infected-host cases and reports for one ISP per token.",
    )
    app.include_router(isp_api_router(settings, engine or connect(settings), prefix))
    return app
