"""``run_notify``: write each ISP's report files to the outbox and record what was reported.

Every ISP is written and committed on its own, so one failing ISP (a full disk, a bad registry
entry) does not hold the others back. Files are written atomically before the database
records them; a crash in between leaves cases unreported, and the next run rewrites the same
files under the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from iotnotice.cases.lifecycle import record_event, transition
from iotnotice.cases.manage import aware
from iotnotice.db.engine import session_scope
from iotnotice.db.models import Case, OutboxMessage, Report, utcnow
from iotnotice.errors import IotnoticeError
from iotnotice.notify import jsonreport, pgp, shadowserver, xarf
from iotnotice.notify.email import build_message
from iotnotice.notify.files import atomic_write, sha256_hex, slug
from iotnotice.notify.plan import IspPlan, Plan, build_plan, report_digest
from iotnotice.settings import Settings

__all__ = ["IspResult", "NotifySummary", "run_notify"]

FILE_FORMATS = frozenset({"csv", "json", "xarf"})
_ALIASES = {"shadowserver": "csv", "x-arf": "xarf", "eml": "email", "mail": "email"}


@dataclass
class IspResult:
    """What a run did (or, dry, would do) for one ISP."""

    isp: str
    display_name: str
    due: int = 0
    new: int = 0
    changed: int = 0
    reminders: int = 0
    suppressed: int = 0
    deferred: bool = False
    ips: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    message_id: str | None = None
    error: str = ""


@dataclass
class NotifySummary:
    """The outcome of one notify run."""

    period: str
    dry_run: bool
    isps: list[IspResult] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)
    list_files: list[Path] = field(default_factory=list)

    @property
    def reported(self) -> int:
        return sum(r.due for r in self.isps if not r.deferred and not r.error)

    @property
    def written(self) -> list[Path]:
        """Every file this run wrote (none in a dry run)."""
        if self.dry_run:
            return []
        return [p for r in self.isps if not r.error for p in r.files] + self.list_files

    @property
    def failed(self) -> list[IspResult]:
        return [r for r in self.isps if r.error]


def _formats(plan: IspPlan) -> frozenset[str]:
    """The files to write: the registry's formats (all when none), e-mail by delivery mode."""
    wanted = {_ALIASES.get(f.lower(), f.lower()) for f in plan.isp.formats or []} & FILE_FORMATS
    formats = set(wanted or FILE_FORMATS) | {"csv"}  # the report of record (and the attachment)
    if plan.isp.delivery in ("email", "both"):
        formats.add("email")
    return frozenset(formats)


def _isp_dir(settings: Settings, plan: IspPlan, now: datetime) -> tuple[Path, str]:
    base = settings.outbox_path / slug(plan.isp.name)
    if int(plan.isp.interval_hours or 24) >= 24:
        return base, f"{now:%Y-%m-%d}"
    period = f"{now:%Y-%m-%dT%H}"
    return base / period, period


def _result(plan: IspPlan) -> IspResult:
    result = IspResult(plan.isp.name, plan.isp.display_name or plan.isp.name)
    result.due, result.suppressed, result.deferred = len(plan.due), plan.suppressed, plan.deferred
    result.ips = [d.case.ip for d in plan.due]
    for due in plan.due:
        if due.reason in ("new", "reinfection"):
            result.new += 1
        elif due.reason == "changed":
            result.changed += 1
        else:
            result.reminders += 1
    return result


def _render(settings: Settings, plan: IspPlan, now: datetime) -> dict[Path, tuple[str, bytes, int]]:
    """Every file of one ISP's report: path -> (format, content, cases)."""
    folder, period = _isp_dir(settings, plan, now)
    cases = [d.case for d in plan.due]
    formats = _formats(plan)
    csv_name = shadowserver.csv_filename(now.date(), plan.isp.name)
    csv_bytes = shadowserver.render_csv(cases)
    files = {folder / csv_name: ("csv", csv_bytes, len(cases))}
    if "json" in formats:
        records = [jsonreport.case_record(d.case, d.reason) for d in plan.due]
        doc = jsonreport.render_json(settings, plan.isp, records, period, now)
        files[folder / jsonreport.json_filename(period, slug(plan.isp.name))] = (
            "json",
            doc,
            len(cases),
        )
    if "xarf" in formats:
        for n, case in enumerate(cases):
            report = xarf.report(case, settings, period)
            # Every report against its type schema; the first also against the master schema.
            problems = xarf.errors(report, full=n == 0)
            if problems:
                raise IotnoticeError(f"X-ARF report for {case.notice_id} invalid: {problems[0]}")
            # The notice ID without its check symbol, which may be a shell metacharacter.
            path = folder / f"{period}-xarf" / f"{case.notice_id[:14]}.json"
            files[path] = ("xarf", xarf.render(report), 1)
    if "email" in formats:
        msg = build_message(
            settings, plan.isp, cases, period, csv_name, csv_bytes, sha256_hex(csv_bytes), now
        )
        eml = folder / f"{period}-{slug(plan.isp.name)}.eml"
        raw = pgp.signed_bytes(settings, msg) if settings.pgp_signing_key else msg.as_bytes()
        files[eml] = ("email", raw, len(cases))
    return files


def _record(
    engine: Engine,
    plan: IspPlan,
    written: dict[Path, tuple[str, str, int]],
    period: str,
    now: datetime,
) -> str | None:
    message_id: str | None = None
    with session_scope(engine) as session:
        for path, (fmt, sha, count) in written.items():
            session.add(
                Report(
                    isp_id=plan.isp.id,
                    period=period,
                    format=fmt,
                    path=str(path),
                    sha256=sha,
                    case_count=count,
                    created_at=now,
                )
            )
            if fmt == "email":
                message_id = _queue_email(session, plan, path, period, now)
        ids = [due.case.id for due in plan.due]
        # One query for all cases (session.get per case would autoflush every time).
        cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids)))}
        for due in plan.due:
            case = cases.get(due.case.id)
            if case is None:
                continue
            note = f"reported to {plan.isp.name} ({due.reason}, {period})"
            if case.status == "new":
                transition(session, case, "notified", "notify", note, at=now)
            else:
                record_event(
                    session, case, "notify", case.status, note, at=now, from_status=case.status
                )
            case.last_reported_at = now
            case.report_digest = report_digest(case)
            case.reported_last_seen = case.last_seen
    return message_id


def _queue_email(session: Session, plan: IspPlan, path: Path, period: str, now: datetime) -> str:
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    message_id = str(msg["Message-ID"]).strip()
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == message_id))
    if exists is None:
        session.add(
            OutboxMessage(
                message_id=message_id,
                isp_id=plan.isp.id,
                period=period,
                path=str(path),
                recipients=list(plan.isp.contacts or []),
                created_at=now,
            )
        )
    return message_id


def _write_isp(
    settings: Settings,
    engine: Engine,
    plan: IspPlan,
    now: datetime,
    result: IspResult,
    dry_run: bool,
) -> None:
    files = _render(settings, plan, now)
    result.files = sorted(files)
    if dry_run:
        return
    written = {
        p: (fmt, atomic_write(p, data, fsync=False), n) for p, (fmt, data, n) in files.items()
    }
    os.sync()  # the files are on disk before the database says they were reported
    result.message_id = _record(engine, plan, written, _isp_dir(settings, plan, now)[1], now)


def _write_list(settings: Settings, name: str, cases: list[Case], now: datetime) -> list[Path]:
    folder = settings.outbox_path / f"_{name}"
    stem = f"{now:%Y-%m-%d}-{name.replace('_', '-')}"
    records = [jsonreport.case_record(c) for c in cases]
    out = {
        folder / f"{stem}.csv": shadowserver.render_csv(cases),
        folder / f"{stem}.json": jsonreport.render_json(settings, None, records, stem, now),
    }
    for path, data in out.items():
        atomic_write(path, data)
    return sorted(out)


def _run_isps(
    settings: Settings,
    engine: Engine,
    plan: Plan,
    now: datetime,
    dry_run: bool,
    summary: NotifySummary,
) -> None:
    for isp_plan in plan.isps:
        result = _result(isp_plan)
        summary.isps.append(result)
        if not isp_plan.due or isp_plan.deferred:
            continue
        try:
            _write_isp(settings, engine, isp_plan, now, result, dry_run)
        except (OSError, IotnoticeError) as exc:
            # Recorded and reported; the other ISPs still get their reports.
            result.error = f"{exc.__class__.__name__}: {exc}"


def run_notify(
    settings: Settings, engine: Engine, dry_run: bool = False, now: datetime | None = None
) -> NotifySummary:
    """Write due reports per ISP into the outbox (or, dry, only say what would be written)."""
    now = aware(now) if now else utcnow()
    summary = NotifySummary(period=f"{now:%Y-%m-%d}", dry_run=dry_run)
    with session_scope(engine) as session:
        plan = build_plan(session, settings, now)
        session.expunge_all()
    _run_isps(settings, engine, plan, now, dry_run, summary)
    summary.unassigned = [c.ip for c in plan.unassigned]
    summary.out_of_scope = [c.ip for c in plan.out_of_scope]
    if not dry_run:
        for name, cases in (("unassigned", plan.unassigned), ("out_of_scope", plan.out_of_scope)):
            if cases:
                summary.list_files += _write_list(settings, name, cases, now)
    return summary
