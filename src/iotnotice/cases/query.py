"""Looking cases up by notice ID, listing them, and changing their status from outside."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import selectinload

from iotnotice.cases.lifecycle import STATUSES, IllegalTransition, transition
from iotnotice.cases.notice_id import normalise
from iotnotice.db.engine import session_scope
from iotnotice.db.models import Case, CaseEvent, Isp
from iotnotice.errors import NotFoundError

__all__ = ["find_case", "get_case", "list_cases", "set_status"]


def find_case(engine: Engine, notice_id: str) -> Case | None:
    """The case with this notice ID (typed forms accepted), events and ISP loaded; or None."""
    canonical = normalise(notice_id)
    if canonical is None:
        return None
    with session_scope(engine) as session:
        stmt = (
            select(Case)
            .where(Case.notice_id == canonical)
            .options(selectinload(Case.events), selectinload(Case.isp))
        )
        return session.scalars(stmt).one_or_none()


def get_case(engine: Engine, notice_id: str) -> Case:
    """Like :func:`find_case` but raises NotFoundError with a helpful message."""
    case = find_case(engine, notice_id)
    if case is None:
        if normalise(notice_id) is None:
            raise NotFoundError(f"{notice_id!r} is not a valid notice ID (check for a typo)")
        raise NotFoundError(f"no case with notice ID {normalise(notice_id)}")
    return case


def list_cases(
    engine: Engine, status: str | None = None, isp: str | None = None, limit: int | None = None
) -> list[Case]:
    """Cases, newest first, optionally of one status and/or one ISP (by name)."""
    if status is not None and status not in STATUSES:
        raise IllegalTransition(f"unknown case status {status!r} (one of: {', '.join(STATUSES)})")
    stmt = select(Case).options(selectinload(Case.isp)).order_by(Case.id.desc())
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if isp is not None:
        stmt = stmt.join(Isp, Case.isp_id == Isp.id).where(Isp.name == isp)
    if limit is not None:
        stmt = stmt.limit(limit)
    with session_scope(engine) as session:
        if isp is not None and session.scalar(select(Isp.id).where(Isp.name == isp)) is None:
            raise NotFoundError(f"no ISP named {isp!r} in the registry")
        return list(session.scalars(stmt))


def set_status(
    engine: Engine, notice_id: str, status: str, actor: str, note: str = ""
) -> CaseEvent:
    """Move the case with this notice ID to ``status`` (lifecycle rules apply)."""
    canonical = get_case(engine, notice_id).notice_id
    with session_scope(engine) as session:
        case = session.scalars(select(Case).where(Case.notice_id == canonical)).one()
        return transition(session, case, status, actor, note)
