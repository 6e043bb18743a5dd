"""The case lifecycle: which status may follow which, and the audited transition.

    new ──▶ notified ──▶ acknowledged ──▶ resolved ──▶ reinfected
     │         │              │              ▲
     │         └──────────────┴──────────────┤
     └───────────────────────────────────────┤
     (new, notified, acknowledged) ──▶ expired ──▶ reinfected

*resolved* means the ISP (or operator) says the device is clean; *expired* means the host has
not been seen for ``case_expiry_days``. When either host is seen again, the old case becomes
*reinfected* (terminal) and a new case is opened with ``reinfection_of`` pointing at it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from iotnotice.db.models import Case, CaseEvent, utcnow
from iotnotice.errors import IotnoticeError

__all__ = [
    "OPEN",
    "STATUSES",
    "TRANSITIONS",
    "IllegalTransition",
    "record_event",
    "transition",
]

STATUSES: tuple[str, ...] = ("new", "notified", "acknowledged", "resolved", "reinfected", "expired")
OPEN: frozenset[str] = frozenset({"new", "notified", "acknowledged"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"notified", "acknowledged", "resolved", "expired"}),
    "notified": frozenset({"acknowledged", "resolved", "expired"}),
    "acknowledged": frozenset({"resolved", "expired"}),
    "resolved": frozenset({"reinfected"}),
    "expired": frozenset({"reinfected"}),
    "reinfected": frozenset(),
}


class IllegalTransition(IotnoticeError):
    """A status change the lifecycle does not allow."""


def record_event(
    session: Session,
    case: Case,
    actor: str,
    to_status: str,
    note: str = "",
    at: datetime | None = None,
    from_status: str | None = None,
) -> CaseEvent:
    """Append one audit event to a case."""
    event = CaseEvent(
        case=case,
        at=at or utcnow(),
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )
    session.add(event)
    return event


def transition(
    session: Session,
    case: Case,
    to_status: str,
    actor: str,
    note: str = "",
    at: datetime | None = None,
) -> CaseEvent:
    """Move a case to ``to_status``, recording who did it; illegal moves raise IllegalTransition."""
    if to_status not in TRANSITIONS:
        raise IllegalTransition(
            f"unknown case status {to_status!r} (one of: {', '.join(STATUSES)})"
        )
    current = case.status
    if to_status not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "none"
        raise IllegalTransition(
            f"case {case.notice_id}: cannot go from {current!r} to {to_status!r} "
            f"(allowed from {current!r}: {allowed})"
        )
    when = at or utcnow()
    case.status = to_status
    case.updated_at = when
    return record_event(session, case, actor, to_status, note, at=when, from_status=current)
