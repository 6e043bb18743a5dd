"""Import Cowrie logs into the database (idempotent per session) and read per-source verdicts.

A session is identified by (sensor, session id). Importing a file again changes nothing; a
session split over two files (Cowrie rotates its log at midnight) is merged event by event and
judged again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, tuple_
from sqlalchemy.orm import Session

from iotnotice.db.engine import session_scope
from iotnotice.db.models import HoneypotSession, utcnow
from iotnotice.honeypot.cowrie import CowrieSession, FileParse, parse_cowrie_file
from iotnotice.honeypot.rules import judge
from iotnotice.settings import Settings

__all__ = [
    "FileImport",
    "HoneypotImportSummary",
    "HoneypotVerdict",
    "honeypot_verdicts",
    "import_cowrie_logs",
]

# Parameters per IN (...) lookup: well below SQLite's and PostgreSQL's limits.
_CHUNK = 400


@dataclass
class FileImport:
    """The outcome for one file."""

    path: Path
    lines: int = 0
    events: int = 0
    ignored: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)
    error: str | None = None
    sessions: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.bad_lines == 0

    @property
    def problem(self) -> str | None:
        """One line naming the file and the first damaged line, or None when the file was clean."""
        if self.error is not None:
            return self.error
        if self.bad_lines:
            more = f" ({self.bad_lines} damaged lines in all)" if self.bad_lines > 1 else ""
            return f"{self.errors[0]}{more}"
        return None


@dataclass
class HoneypotImportSummary:
    """The outcome of one import: per file, and the sources now judged infected."""

    files: list[FileImport] = field(default_factory=list)
    infected_sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def sessions_new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def sessions_updated(self) -> int:
        return sum(f.updated for f in self.files)

    @property
    def sessions_unchanged(self) -> int:
        return sum(f.unchanged for f in self.files)


@dataclass(frozen=True)
class HoneypotVerdict:
    """The verdict on one source address: its strongest session, and the evidence for it."""

    ip: str
    verdict: str
    family: str | None
    variant: str | None
    confidence: float
    first_seen: datetime
    last_seen: datetime
    sessions: int
    session: str
    protocol: str
    evidence: dict[str, Any]


def _union(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events of both lists, each once, in time order (JSON-equal events are the same event)."""
    seen = {tuple(sorted(e.items())) for e in old}
    merged = list(old) + [e for e in new if tuple(sorted(e.items())) not in seen]
    return sorted(merged, key=lambda e: str(e.get("ts", "")))


def _judged(
    logins: list[dict[str, Any]], commands: list[dict[str, Any]], downloads: list[dict[str, Any]]
) -> dict[str, Any]:
    """The verdict columns of a session row."""
    verdict = judge(logins, commands, downloads)
    success = [x for x in logins if x.get("success")]
    return {
        "verdict": verdict.verdict,
        "confidence": verdict.confidence,
        "family": verdict.family,
        "variant": verdict.variant,
        "reasons": list(verdict.reasons),
        "username": success[0].get("username") if success else None,
        "password": success[0].get("password") if success else None,
    }


def _judge_row(row: HoneypotSession) -> None:
    for key, value in _judged(row.logins, row.commands, row.downloads).items():
        setattr(row, key, value)


def _new_row(s: CowrieSession, source: Path) -> dict[str, Any]:
    logins, commands = _union([], s.logins), _union([], s.commands)
    downloads = _union([], s.downloads)
    return {
        "sensor": s.sensor,
        "session": s.session,
        "src_ip": s.src_ip,
        "src_port": s.src_port,
        "dst_port": s.dst_port,
        "protocol": s.protocol,
        "start": s.start,
        "end": s.end,
        "logins": logins,
        "commands": commands,
        "downloads": downloads,
        "source_file": str(source),
        "imported_at": utcnow(),
        **_judged(logins, commands, downloads),
    }


def _merge_row(row: HoneypotSession, s: CowrieSession) -> bool:
    """Add a parsed session's events to a stored row; True when anything changed."""
    logins, commands = _union(row.logins, s.logins), _union(row.commands, s.commands)
    downloads = _union(row.downloads, s.downloads)
    start, end = min(_aware(row.start), s.start), max(_aware(row.end), s.end)
    if (logins, commands, downloads, start, end) == (
        row.logins,
        row.commands,
        row.downloads,
        _aware(row.start),
        _aware(row.end),
    ):
        return False
    row.logins, row.commands, row.downloads, row.start, row.end = (
        logins,
        commands,
        downloads,
        start,
        end,
    )
    row.src_port = row.src_port if row.src_port is not None else s.src_port
    row.dst_port = row.dst_port if row.dst_port is not None else s.dst_port
    _judge_row(row)
    return True


def _aware(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _existing(db: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], HoneypotSession]:
    found: dict[tuple[str, str], HoneypotSession] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        stmt = select(HoneypotSession).where(
            tuple_(HoneypotSession.sensor, HoneypotSession.session).in_(chunk)
        )
        found.update({(r.sensor, r.session): r for r in db.scalars(stmt)})
    return found


def _store(engine: Engine, parse: FileParse, result: FileImport) -> None:
    with session_scope(engine) as db:
        stored = _existing(db, list(parse.sessions))
        new = []
        for key, parsed in parse.sessions.items():
            row = stored.get(key)
            if row is None:
                new.append(_new_row(parsed, parse.path))
            elif _merge_row(row, parsed):
                result.updated += 1
            else:
                result.unchanged += 1
        # One multi-row INSERT per batch instead of the ORM's per-object bookkeeping.
        for i in range(0, len(new), _CHUNK):
            db.execute(insert(HoneypotSession), new[i : i + _CHUNK])
        result.new = len(new)


def _import_one(engine: Engine, path: Path) -> FileImport:
    parse = parse_cowrie_file(path)
    result = FileImport(
        path=path,
        lines=parse.lines,
        events=parse.events,
        ignored=parse.ignored,
        bad_lines=parse.bad_lines,
        errors=list(parse.errors),
        error=parse.error,
        sessions=len(parse.sessions),
    )
    _store(engine, parse, result)
    return result


def import_cowrie_logs(
    settings: Settings, engine: Engine, paths: Iterable[Path]
) -> HoneypotImportSummary:
    """Import Cowrie JSON logs; damaged lines and unreadable files are reported, never raised."""
    summary = HoneypotImportSummary()
    for path in paths:
        summary.files.append(_import_one(engine, Path(path)))
    summary.infected_sources = [v.ip for v in honeypot_verdicts(engine)]
    return summary


def _evidence(best: HoneypotSession, rows: list[HoneypotSession]) -> dict[str, Any]:
    return {
        "rule": "honeypot",
        "session": best.session,
        "sensor": best.sensor,
        "protocol": best.protocol,
        "start": _aware(best.start).isoformat(),
        "credentials": None if best.username is None else f"{best.username}/{best.password}",
        "commands": [c.get("input") for c in best.commands[:20]],
        "busybox_token": best.variant,
        "downloads": [{"url": d.get("url"), "shasum": d.get("shasum")} for d in best.downloads],
        "reasons": list(best.reasons),
        "confidence": best.confidence,
        "sessions": len(rows),
        "session_ids": [r.session for r in rows[:10]],
        "source_file": best.source_file,
    }


def _verdict(rows: list[HoneypotSession]) -> HoneypotVerdict:
    best = max(rows, key=lambda r: (r.confidence, -_aware(r.start).timestamp()))
    return HoneypotVerdict(
        ip=best.src_ip,
        verdict=best.verdict,
        family=best.family,
        variant=best.variant,
        confidence=best.confidence,
        first_seen=min(_aware(r.start) for r in rows),
        last_seen=max(_aware(r.end) for r in rows),
        sessions=len(rows),
        session=best.session,
        protocol=best.protocol,
        evidence=_evidence(best, rows),
    )


def honeypot_verdicts(
    engine: Engine, verdicts: Sequence[str] = ("infected",)
) -> list[HoneypotVerdict]:
    """One verdict per source address whose strongest session has one of ``verdicts``."""
    by_ip: dict[str, list[HoneypotSession]] = {}
    with session_scope(engine) as db:
        hit = select(HoneypotSession.src_ip).where(HoneypotSession.verdict.in_(verdicts))
        stmt = (
            select(HoneypotSession)
            .where(HoneypotSession.src_ip.in_(hit))
            .order_by(HoneypotSession.src_ip, HoneypotSession.start)
        )
        for row in db.scalars(stmt):
            by_ip.setdefault(row.src_ip, []).append(row)
    out = [_verdict(rows) for rows in by_ip.values()]
    return [v for v in out if v.verdict in verdicts]
