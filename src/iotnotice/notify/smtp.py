"""Delivery of queued report e-mail over SMTP: STARTTLS, AUTH, retries with back-off.

Each message is an ``outbox_messages`` row pointing at its ``.eml`` file. A sender claims a
row atomically (a conditional UPDATE that sets ``sending`` and a lease), so two senders never
take the same message. After the server's 250 the row is committed as ``sent``. A process
that dies in between leaves the row ``sending``; once its lease lapses the next run sends the
*same bytes with the same Message-ID* again, so the ISP's mail or ticket system can recognise
and drop the duplicate: the Message-ID is the idempotency key. Temporary failures (4xx, no
connection) are retried with exponential back-off; permanent ones (5xx) fail the message at
once. One ISP's failure never stops the others' messages.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, and_, or_, select, update

from iotnotice.cases.manage import aware
from iotnotice.db.engine import session_scope
from iotnotice.db.models import OutboxMessage, utcnow
from iotnotice.errors import DeliveryError
from iotnotice.settings import Settings

__all__ = ["DeliverySummary", "deliver_outbox"]


@dataclass
class DeliverySummary:
    """What one delivery run did, by Message-ID."""

    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class _Temporary(Exception):
    """A failure worth retrying later."""


def _connect(settings: Settings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(
        str(settings.smtp_host), int(settings.smtp_port), timeout=float(settings.smtp_timeout)
    )
    try:
        smtp.ehlo()
        if settings.smtp_starttls:
            if not smtp.has_extn("starttls"):
                raise DeliveryError(f"{settings.smtp_host} does not offer STARTTLS")
            context = ssl.create_default_context(cafile=str(settings.smtp_cafile) or None)
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(str(settings.smtp_user), str(settings.smtp_password))
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send(smtp: smtplib.SMTP, settings: Settings, row: OutboxMessage) -> str:
    """Send one message; returns a note naming recipients refused while others accepted."""
    # The file's bytes go out unchanged (CRLF line ends), so an OpenPGP signature stays valid.
    raw = Path(row.path).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    refused = smtp.sendmail(str(settings.reporter_contact), list(row.recipients), raw)
    # Some recipients have it: sending again would duplicate, so it counts as sent.
    return f"refused by: {', '.join(sorted(refused))}" if refused else ""


def _lease(settings: Settings) -> timedelta:
    # Long enough for one SMTP transaction; a crashed sender's claim lapses after it.
    return timedelta(seconds=4 * float(settings.smtp_timeout) + 30)


def _due_condition(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.status.in_(("pending", "sending")),
        or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
    )


def _due(engine: Engine, now: datetime) -> list[int]:
    stmt = select(OutboxMessage.id).where(_due_condition(now)).order_by(OutboxMessage.id)
    with session_scope(engine) as session:
        return list(session.scalars(stmt))


def _claim(engine: Engine, row_id: int, settings: Settings, now: datetime) -> OutboxMessage | None:
    """Atomically take a due message (None if another sender has it) and count the attempt."""
    claim = (
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, _due_condition(now))
        .values(
            status="sending",
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + _lease(settings),
        )
        .execution_options(synchronize_session=False)
    )
    with session_scope(engine) as session:
        if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get_one(OutboxMessage, row_id)


def _finish(
    engine: Engine, row_id: int, settings: Settings, now: datetime, error: Exception | str
) -> str:
    with session_scope(engine) as session:
        row = session.get_one(OutboxMessage, row_id)
        if isinstance(error, str):
            row.status, row.sent_at, row.last_error = "sent", utcnow(), error
            row.next_attempt_at = None
        elif isinstance(error, _Temporary) and row.attempts < int(settings.smtp_max_attempts):
            delay = float(settings.smtp_backoff_seconds) * 2 ** (row.attempts - 1)
            row.status, row.last_error = "pending", str(error)
            row.next_attempt_at = now + timedelta(seconds=delay)
        else:
            row.status, row.last_error, row.next_attempt_at = "failed", str(error), None
        return row.status


def _classify(exc: Exception) -> Exception:
    """A delivery failure as _Temporary (retry later) or DeliveryError (give up)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        text = f"{exc.smtp_code} {raw.decode(errors='replace') if isinstance(raw, bytes) else raw}"
        return _Temporary(text) if 400 <= exc.smtp_code < 500 else DeliveryError(text)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = f"recipients refused: {exc.recipients!r}"
        return _Temporary(text) if all(400 <= c < 500 for c in codes) else DeliveryError(text)
    return _Temporary(f"{exc.__class__.__name__}: {exc}")


def _attempt(
    smtp: smtplib.SMTP | None, settings: Settings, row: OutboxMessage
) -> tuple[smtplib.SMTP | None, Exception | str]:
    """One delivery attempt: (connection to reuse, error or the success note)."""
    if not row.recipients:
        return smtp, DeliveryError("the ISP has no contact address in the registry")
    try:
        smtp = smtp or _connect(settings)
        return smtp, _send(smtp, settings, row)
    except (OSError, smtplib.SMTPException, DeliveryError) as exc:
        _drop(smtp)
        return None, _classify(exc)


def _drop(smtp: smtplib.SMTP | None) -> None:
    """Close a connection after a failure; the next message opens a fresh one."""
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _pass(settings: Settings, engine: Engine, now: datetime, summary: DeliverySummary) -> None:
    smtp: smtplib.SMTP | None = None
    try:
        for row_id in _due(engine, now):
            row = _claim(engine, row_id, settings, now)
            if row is None:
                continue
            smtp, error = _attempt(smtp, settings, row)
            status = _finish(engine, row_id, settings, now, error)
            bucket = {"sent": summary.sent, "pending": summary.retrying}.get(status, summary.failed)
            bucket.append(row.message_id)
            if not isinstance(error, str):
                summary.errors[row.message_id] = str(error)
    finally:
        _drop(smtp)


def _next_due(engine: Engine) -> datetime | None:
    stmt = select(OutboxMessage.next_attempt_at).where(OutboxMessage.status == "pending")
    with session_scope(engine) as session:
        times = [aware(t) if t else utcnow() for t in session.scalars(stmt)]
    return min(times) if times else None


def deliver_outbox(
    settings: Settings, engine: Engine, now: datetime | None = None, wait: bool = False
) -> DeliverySummary:
    """Send every due outbox message; with ``wait``, keep retrying until none is pending."""
    if not settings.smtp_host:
        raise DeliveryError("no smtp_host configured; report e-mail stays in the outbox folder")
    summary = DeliverySummary()
    _pass(settings, engine, aware(now) if now else utcnow(), summary)
    while wait and (due := _next_due(engine)) is not None:
        time.sleep(max(0.0, (due - utcnow()).total_seconds()))
        summary.retrying.clear()
        _pass(settings, engine, utcnow(), summary)
    return summary
