"""Cases from detections: open, extend, reopen as reinfection, expire.

``update_cases`` reads every host that ``detect`` classified as infected and brings the case
table up to date. Time comparisons about sightings use *capture* time (``last_seen``), never
the wall clock, so a replayed or simulated capture from the past behaves like a live one:
a case expires when the telescope kept seeing traffic for ``case_expiry_days`` without this
host in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from iotnotice.cases.lifecycle import OPEN, IllegalTransition, record_event, transition
from iotnotice.cases.notice_id import new_notice_id
from iotnotice.db.models import Case, CaseEvent, DetectedHost, Isp, utcnow
from iotnotice.errors import IotnoticeError
from iotnotice.settings import Settings

__all__ = [
    "NOT_OURS",
    "CaseSummary",
    "IllegalTransition",
    "aware",
    "transition",
    "update_cases",
]

_ID_ATTEMPTS = 8
# Prefix of the event note recorded when an ISP disowns a case (see notify.api).
NOT_OURS = "ISP: not ours."


@dataclass
class CaseSummary:
    """What one ``update_cases`` run did."""

    opened: int = 0
    extended: int = 0
    reinfections: int = 0
    expired: int = 0
    unchanged: int = 0
    open_cases: int = 0
    opened_ips: list[str] = field(default_factory=list)


def aware(value: datetime) -> datetime:
    """The same instant as a UTC-aware datetime (SQLite hands timestamps back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _latest_cases(session: Session) -> dict[str, Case]:
    newest = select(func.max(Case.id)).group_by(Case.ip).scalar_subquery()
    return {c.ip: c for c in session.scalars(select(Case).where(Case.id.in_(newest)))}


class _NoticeIds:
    """Hands out fresh notice IDs, checked against the database a batch at a time."""

    def __init__(self, session: Session, factory: Callable[[], str], batch: int = 256) -> None:
        self.session, self.factory, self.batch = session, factory, batch
        self.taken: set[str] = set()
        self.ready: list[str] = []

    def _refill(self) -> None:
        # 60 random bits make a clash very unlikely; the unique constraint is the final guard.
        for _ in range(_ID_ATTEMPTS):
            # Keep generation order: picking by value would bias IDs (and make them guessable).
            fresh = list(dict.fromkeys(self.factory() for _ in range(self.batch)))
            fresh = [f for f in fresh if f not in self.taken]
            stmt = select(Case.notice_id).where(Case.notice_id.in_(fresh))
            clash = set(self.session.scalars(stmt))
            self.ready = [f for f in fresh if f not in clash]
            if self.ready:
                return
        raise IotnoticeError(f"could not allocate a unique notice ID in {_ID_ATTEMPTS} attempts")

    def next(self) -> str:
        if not self.ready:
            self._refill()
        notice = self.ready.pop()
        self.taken.add(notice)
        return notice


def _observation(host: DetectedHost, isps: dict[str, Isp]) -> dict[str, object]:
    isp = isps.get(host.isp) if host.isp else None
    return {
        "isp": isp,
        "asn": host.asn,
        "country": host.country,
        "family": host.family or "unknown",
        "confidence": float(host.confidence),
        "ports": host.ports or "",
        "evidence": dict(host.evidence or {}),
    }


def _open_case(
    session: Session,
    host: DetectedHost,
    isps: dict[str, Isp],
    notice_id: str,
    actor: str,
    now: datetime,
    previous: Case | None = None,
) -> Case:
    case = Case(
        notice_id=notice_id,
        ip=host.ip,
        first_seen=aware(host.first_seen),
        last_seen=aware(host.last_seen),
        packets=int(host.packets),
        status="new",
        reinfection_of=previous.id if previous else None,
        created_at=now,
        updated_at=now,
        **_observation(host, isps),
    )
    session.add(case)
    note = f"opened from detection ({case.family}, {case.packets} packets)"
    if previous is not None:
        note = f"reinfection of {previous.notice_id}; " + note
    record_event(session, case, actor, "new", note, at=now)
    return case


def _extend(
    session: Session,
    case: Case,
    host: DetectedHost,
    isps: dict[str, Isp],
    actor: str,
    now: datetime,
) -> bool:
    last_seen = aware(host.last_seen)
    if last_seen <= aware(case.last_seen) and int(host.packets) <= case.packets:
        return False
    # Each detection run recounts its window, so the larger count is the one to keep.
    case.packets = max(case.packets, int(host.packets))
    case.first_seen = min(aware(case.first_seen), aware(host.first_seen))
    case.last_seen = max(aware(case.last_seen), last_seen)
    obs = _observation(host, isps)
    case.family, case.confidence = str(obs["family"]), float(host.confidence)
    case.ports, case.evidence = str(obs["ports"]), dict(host.evidence or {})
    case.asn, case.country = host.asn, host.country
    isp = obs["isp"]
    if case.isp is None and isinstance(isp, Isp) and not _disowned(session, case, isp):
        case.isp = isp
    case.updated_at = now
    note = f"seen again until {case.last_seen:%Y-%m-%d %H:%M:%S}Z, {case.packets} packets"
    record_event(session, case, actor, case.status, note, at=now, from_status=case.status)
    return True


def _disowned(session: Session, case: Case, isp: Isp) -> bool:
    """True when this ISP has told us the case's address is not theirs."""
    stmt = select(CaseEvent.id).where(
        CaseEvent.case_id == case.id,
        CaseEvent.actor == f"isp:{isp.name}",
        CaseEvent.note.startswith(NOT_OURS),
    )
    return session.scalar(stmt.limit(1)) is not None


def _closed_at(session: Session, case: Case) -> datetime:
    stmt = select(func.max(CaseEvent.at)).where(
        CaseEvent.case_id == case.id, CaseEvent.to_status == case.status
    )
    value = session.scalar(stmt)
    return aware(value) if value is not None else aware(case.updated_at)


def _seen_again(session: Session, case: Case, host: DetectedHost) -> bool:
    last_seen = aware(host.last_seen)
    if last_seen <= aware(case.last_seen):
        return False
    if case.status == "resolved":
        # Traffic captured before the ISP declared the device clean is not a reinfection.
        return last_seen > _closed_at(session, case)
    return case.status == "expired"


def _expire(
    session: Session, cases: Iterable[Case], cutoff: datetime, actor: str, now: datetime, days: int
) -> int:
    count = 0
    for case in cases:
        if case.status in OPEN and aware(case.last_seen) < cutoff:
            transition(session, case, "expired", actor, f"not seen for {days} days", at=now)
            count += 1
    return count


def _apply_hosts(
    session: Session, settings: Settings, actor: str, now: datetime, ids: Callable[[], str]
) -> CaseSummary:
    summary = CaseSummary()
    isps = {isp.name: isp for isp in session.scalars(select(Isp))}
    latest = _latest_cases(session)
    notice_ids = _NoticeIds(session, ids)
    hosts = session.scalars(
        select(DetectedHost).where(DetectedHost.classification == "infected")
    ).all()
    for host in hosts:
        case = latest.get(host.ip)
        if case is None or (case.status not in OPEN and _seen_again(session, case, host)):
            if case is not None:
                transition(session, case, "reinfected", actor, "host seen again", at=now)
                summary.reinfections += 1
            notice = notice_ids.next()
            latest[host.ip] = _open_case(session, host, isps, notice, actor, now, case)
            summary.opened += 1
            summary.opened_ips.append(host.ip)
        elif case.status in OPEN and _extend(session, case, host, isps, actor, now):
            summary.extended += 1
        else:
            summary.unchanged += 1
    session.flush()
    newest = session.scalar(select(func.max(DetectedHost.last_seen)))
    if newest is not None:
        days = int(settings.case_expiry_days)
        cutoff = aware(newest) - timedelta(days=days)
        summary.expired = _expire(session, latest.values(), cutoff, actor, now, days)
    summary.open_cases = sum(1 for c in latest.values() if c.status in OPEN)
    return summary


def update_cases(
    settings: Settings,
    engine: Engine,
    actor: str = "detect",
    now: datetime | None = None,
    id_factory: Callable[[], str] = new_notice_id,
    dry_run: bool = False,
) -> CaseSummary:
    """Open, extend, reopen (reinfection) and expire cases from the infected hosts.

    With ``dry_run`` everything is worked out and then rolled back: the summary says what a
    real run would do.
    """
    now = aware(now) if now else utcnow()
    with sessionmaker(engine, expire_on_commit=False)() as session:
        try:
            summary = _apply_hosts(session, settings, actor, now, id_factory)
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return summary
