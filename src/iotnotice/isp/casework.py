"""ISP-side case handling: statuses, notes, the subscriber directory, the status-update queue.

A status change of a case with a notice ID queues an :class:`IspStatusUpdate` (notice ID and
status only) for :func:`iotnotice.isp.coordinator.push_status` to send to the coordinator.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from iotnotice.db.engine import session_scope
from iotnotice.db.models import (
    IspAlert,
    IspCase,
    IspQuarantine,
    IspStatusUpdate,
    IspSubscriber,
    utcnow,
)
from iotnotice.errors import InputError, NotFoundError

__all__ = [
    "STATUSES",
    "CaseDetail",
    "add_note",
    "case_detail",
    "find_cases",
    "list_cases",
    "load_subscribers",
    "set_status",
    "set_status_by_notice",
]

STATUSES = ("new", "acknowledged", "subscriber_alerted", "quarantined", "resolved", "not_ours")
REPORTABLE = frozenset(STATUSES) - {"new"}
_DIRECTORY = ("subscriber", "name", "email", "phone", "postal_address", "language")


def set_status(session: Session, case: IspCase, status: str, note: str = "") -> None:
    """Change a case's status, keep a note, and queue the update for the coordinator."""
    if status not in STATUSES:
        raise InputError("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    if case.status == status and not note:
        return
    case.status = status
    case.updated_at = utcnow()
    if note:
        stamp = utcnow().strftime("%Y-%m-%d %H:%M")
        case.notes = f"{case.notes}\n{stamp} {status}: {note}".strip()
    if case.notice_id and status in REPORTABLE:
        session.add(IspStatusUpdate(notice_id=case.notice_id, status=status))


def find_cases(session: Session, notice_id: str) -> list[IspCase]:
    """Every ISP case carrying a notice ID (case-insensitive); NotFoundError if none."""
    wanted = notice_id.strip().upper()
    cases = list(session.scalars(select(IspCase).where(IspCase.notice_id == wanted)))
    if not cases:
        raise NotFoundError(f"no case with notice ID {wanted}")
    return cases


def set_status_by_notice(engine: Engine, notice_id: str, status: str, note: str = "") -> int:
    """Set the status of every case of a notice ID; returns how many cases changed."""
    with session_scope(engine) as session:
        cases = find_cases(session, notice_id)
        for case in cases:
            set_status(session, case, status, note)
        if status == "resolved":
            from iotnotice.isp.quarantine import release_resolved

            release_resolved(session)
        return len(cases)


def list_cases(
    engine: Engine, status: str | None = None, match_status: str | None = None
) -> list[IspCase]:
    """ISP cases, oldest first, optionally filtered."""
    query = select(IspCase).order_by(IspCase.id)
    if status:
        query = query.where(IspCase.status == status)
    if match_status:
        query = query.where(IspCase.match_status == match_status)
    with session_scope(engine) as session:
        return list(session.scalars(query))


def _directory_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if "subscriber" not in (reader.fieldnames or ()):
                raise InputError(path, "line 1: a subscriber directory needs a 'subscriber' column")
            rows = []
            for row in reader:
                if not (row.get("subscriber") or "").strip():
                    raise InputError(path, f"line {reader.line_num}: empty subscriber")
                rows.append({k: (row.get(k) or "").strip() for k in _DIRECTORY})
            return rows
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def load_subscribers(engine: Engine, paths: Sequence[Path]) -> int:
    """Load (insert or update) the subscriber directory from CSV files; returns rows loaded.

    Columns: subscriber (the identity the logs name: RADIUS User-Name, MAC, circuit ID, CGNAT
    subscriber), name, email, phone, postal_address, language (ja/en).
    """
    rows = [row for path in paths for row in _directory_rows(Path(path))]
    with session_scope(engine) as session:
        known = {s.subscriber: s for s in session.scalars(select(IspSubscriber))}
        for row in rows:
            entry = known.get(row["subscriber"])
            if entry is None:
                entry = IspSubscriber(subscriber=row["subscriber"])
                session.add(entry)
                known[row["subscriber"]] = entry
            for key in _DIRECTORY[1:]:
                setattr(entry, key, row[key])
    return len(rows)


@dataclass
class CaseDetail:
    """One case with its alert history, walled-garden entries and status updates."""

    case: IspCase
    alerts: list[IspAlert]
    quarantine: list[IspQuarantine]
    updates: list[IspStatusUpdate]


def case_detail(engine: Engine, case_id: int) -> CaseDetail:
    """Everything the ISP knows about one case."""
    with session_scope(engine) as session:
        case = session.get(IspCase, case_id)
        if case is None:
            raise NotFoundError(f"no ISP case {case_id}")
        alerts = select(IspAlert).where(IspAlert.case_id == case_id).order_by(IspAlert.id)
        held = select(IspQuarantine).where(IspQuarantine.subscriber == case.subscriber)
        updates = select(IspStatusUpdate).where(IspStatusUpdate.notice_id == case.notice_id)
        return CaseDetail(
            case,
            list(session.scalars(alerts)),
            list(session.scalars(held.order_by(IspQuarantine.id))) if case.subscriber else [],
            list(session.scalars(updates.order_by(IspStatusUpdate.id))) if case.notice_id else [],
        )


def add_note(engine: Engine, case_id: int, text: str) -> None:
    """Append a timestamped note to a case (kept at the ISP; never sent)."""
    with session_scope(engine) as session:
        case = session.get(IspCase, case_id)
        if case is None:
            raise NotFoundError(f"no ISP case {case_id}")
        case.notes = f"{case.notes}\n{utcnow():%Y-%m-%d %H:%M} note: {text}".strip()
        case.updated_at = utcnow()
