"""Does notification work? Clean-up figures per ISP from the case history.

A notified case counts as *cleaned within N days* when its host was last observed less than N
days after the notification. Only cases notified at least N days before ``now`` enter the
N-day share, so recent notifications do not look like failures or successes too early.
Caveat: an address change (DHCP churn) also makes a host disappear; where the ISP reported a
status back (``acknowledged``/``resolved`` events), ``isp_confirmed`` counts those cases.
"""

from __future__ import annotations

import statistics as pystats
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import Case, CaseEvent, Isp

__all__ = ["HORIZONS", "NotifiedCase", "notified_cases", "remediation", "survival_curve"]

HORIZONS: tuple[int, ...] = (7, 14, 30)
_OPEN = ("new", "notified", "acknowledged")
_ISP_STATUS = ("acknowledged", "resolved")


@dataclass(frozen=True)
class NotifiedCase:
    """What remediation needs to know about one notified case."""

    isp: str
    notified_at: datetime
    last_seen: datetime
    status: str
    reinfected: bool
    isp_confirmed: bool


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def notified_cases(engine: Engine) -> list[NotifiedCase]:
    """Every case that was ever notified, with its first notification time."""
    with session_scope(engine) as session:
        first_notice: dict[int, datetime] = {}
        confirmed: set[int] = set()
        for case_id, to_status, at in session.execute(
            select(CaseEvent.case_id, CaseEvent.to_status, CaseEvent.at).order_by(CaseEvent.at)
        ):
            if to_status == "notified":
                first_notice.setdefault(case_id, _utc(at))
            if to_status in _ISP_STATUS:
                confirmed.add(case_id)
        reinfected = set(
            session.scalars(select(Case.reinfection_of).where(Case.reinfection_of.is_not(None)))
        )
        out = []
        for case, isp in session.execute(
            select(Case, Isp.name).outerjoin(Isp, Case.isp_id == Isp.id)
        ):
            notified = first_notice.get(case.id)
            if notified is None and case.last_reported_at is not None:
                notified = _utc(case.last_reported_at)
            if notified is None:
                continue
            out.append(
                NotifiedCase(
                    isp=isp or "_unassigned",
                    notified_at=notified,
                    last_seen=_utc(case.last_seen),
                    status=case.status,
                    reinfected=case.id in reinfected or case.status == "reinfected",
                    isp_confirmed=case.id in confirmed,
                )
            )
    return out


def _figures(cases: list[NotifiedCase], now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {"notified": len(cases)}
    for days in HORIZONS:
        span = timedelta(days=days)
        eligible = [c for c in cases if c.notified_at + span <= now]
        cleaned = [c for c in eligible if c.last_seen < c.notified_at + span]
        row[f"cleaned_{days}d"] = len(cleaned) / len(eligible) if eligible else None
    lags = [max((c.last_seen - c.notified_at).total_seconds(), 0) / 86400 for c in cases]
    row["median_days_to_last_seen"] = pystats.median(lags) if lags else None
    row["reinfection_rate"] = sum(c.reinfected for c in cases) / len(cases) if cases else None
    row["active"] = sum(c.status in _OPEN for c in cases)
    row["isp_confirmed"] = sum(c.isp_confirmed for c in cases)
    return row


def remediation(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per ISP plus an 'all' row: notified, cleaned_7d/14d/30d shares, median days
    from notification to last observation, reinfection rate, still active, ISP-confirmed."""
    now = now or datetime.now(UTC)
    cases = notified_cases(engine)
    per_isp: dict[str, list[NotifiedCase]] = defaultdict(list)
    for case in cases:
        per_isp[case.isp].append(case)
    rows = [{"isp": isp, **_figures(group, now)} for isp, group in sorted(per_isp.items())]
    return [*rows, {"isp": "all", **_figures(cases, now)}]


def survival_curve(
    cases: list[NotifiedCase], now: datetime, max_days: int = 30
) -> list[tuple[int, float]]:
    """(day, share still observed) after notification: a Kaplan-Meier estimate in which cases
    seen until recently (within a day of ``now``) are censored rather than counted as cleaned."""
    events = []
    for case in cases:
        days = max((case.last_seen - case.notified_at).total_seconds(), 0) / 86400
        censored = (now - case.last_seen) < timedelta(days=1)
        events.append((days, censored))
    curve, share = [], 1.0
    for day in range(max_days + 1):
        at_risk = sum(1 for d, _ in events if d >= day)
        ended = sum(1 for d, c in events if day <= d < day + 1 and not c)
        curve.append((day, share))
        if at_risk:
            share *= 1 - ended / at_risk
    return curve
