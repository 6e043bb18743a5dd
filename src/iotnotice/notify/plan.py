"""Which open cases go to which ISP now: grouping, country scope, suppression, interval.

A case is *due* when it was never reported (``new`` or ``reinfection``), when what the ISP
was told no longer holds (``changed``: another family or another ISP), or when the host was
seen again after a report older than ``suppression_days`` (``reminder``). Anything else is
suppressed. An ISP whose last report is younger than its aggregation interval is *deferred*:
its due cases wait for the next interval.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from iotnotice.cases.lifecycle import OPEN
from iotnotice.cases.manage import aware
from iotnotice.db.models import Case, Isp, Report
from iotnotice.settings import Settings

__all__ = ["Due", "IspPlan", "Plan", "build_plan", "due_reason", "report_digest"]


@dataclass
class Due:
    """A case to report and why."""

    case: Case
    reason: str


@dataclass
class IspPlan:
    """One ISP's share of a run."""

    isp: Isp
    due: list[Due] = field(default_factory=list)
    suppressed: int = 0
    deferred: bool = False


@dataclass
class Plan:
    """Everything a notify run would do."""

    isps: list[IspPlan] = field(default_factory=list)
    unassigned: list[Case] = field(default_factory=list)
    out_of_scope: list[Case] = field(default_factory=list)


def report_digest(case: Case) -> str:
    """A hash of what a report tells the ISP about a case, for change detection."""
    return hashlib.sha256(f"{case.family}|{case.isp_id}".encode()).hexdigest()


def due_reason(case: Case, settings: Settings, now: datetime) -> str | None:
    """Why a case is due for reporting now, or None when it is suppressed."""
    if case.last_reported_at is None:
        return "reinfection" if case.reinfection_of is not None else "new"
    if case.report_digest != report_digest(case):
        return "changed"
    quiet = timedelta(days=int(settings.suppression_days))
    if now - aware(case.last_reported_at) < quiet or case.reported_last_seen is None:
        return None
    return "reminder" if aware(case.last_seen) > aware(case.reported_last_seen) else None


def _last_reports(session: Session) -> dict[int, datetime]:
    stmt = select(Report.isp_id, func.max(Report.created_at)).group_by(Report.isp_id)
    return {isp_id: aware(at) for isp_id, at in session.execute(stmt) if isp_id is not None}


def _deferred(isp: Isp, last: datetime | None, now: datetime) -> bool:
    if last is None:
        return False
    interval = timedelta(hours=max(1, int(isp.interval_hours or 24)))
    # A little slack, so a daily cron job that runs a few seconds early is not skipped.
    return now - last < interval - interval / 20


def _in_scope(case: Case, scope: tuple[str, ...]) -> bool:
    country = case.country or (case.isp.country if case.isp is not None else None)
    return not scope or (country or "").upper() in scope


def build_plan(session: Session, settings: Settings, now: datetime) -> Plan:
    """Group the open cases by ISP and decide what is due, suppressed or deferred."""
    plan = Plan()
    scope = settings.scope_countries
    last = _last_reports(session)
    per_isp: dict[int, IspPlan] = {}
    stmt = (
        select(Case)
        .where(Case.status.in_(sorted(OPEN)))
        .options(selectinload(Case.isp))
        .order_by(Case.ip, Case.id)
    )
    for case in session.scalars(stmt):
        if not _in_scope(case, scope):
            plan.out_of_scope.append(case)
        elif case.isp is None:
            plan.unassigned.append(case)
        else:
            isp = case.isp
            entry = per_isp.get(isp.id)
            if entry is None:
                entry = per_isp[isp.id] = IspPlan(
                    isp, deferred=_deferred(isp, last.get(isp.id), now)
                )
            reason = due_reason(case, settings, now)
            if reason is None:
                entry.suppressed += 1
            else:
                entry.due.append(Due(case, reason))
    plan.isps = sorted(per_isp.values(), key=lambda p: p.isp.name)
    return plan
