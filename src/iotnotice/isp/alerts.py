"""Alert subscribers by e-mail (SMTP), printable letter (HTML) or SMS text, in Japanese or English.

Templates are Jinja2 files named ``<channel>_<language>.<txt|html>`` (``email_ja.txt``,
``letter_en.html``, ``sms_ja.txt``, ``landing_en.html``); a file of the same name in
``settings.isp_templates_dir`` overrides the shipped one. E-mail templates start with a
``Subject:`` line. Every alert carries the notice ID and tells the subscriber to *type* the
support site's address themselves: a rendered alert containing a link (a URL scheme, ``href``,
``<a``) or anything but plain text/HTML is refused, so an edited template cannot add one.

One alert goes to each subscriber per run, naming all their pending notice IDs; a subscriber is
not alerted twice on the same channel about the same notice ID.
"""

from __future__ import annotations

import re
import smtplib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from iotnotice.db.engine import session_scope
from iotnotice.db.models import IspAlert, IspCase, IspSubscriber
from iotnotice.errors import ConfigError, DeliveryError
from iotnotice.isp.casework import set_status
from iotnotice.settings import Settings

__all__ = [
    "CHANNELS",
    "AlertSummary",
    "RenderedAlert",
    "render_alert",
    "render_landing",
    "send_alerts",
    "support_site_address",
]

CHANNELS = ("email", "letter", "sms")
LANGUAGES = ("ja", "en")
_SUFFIX = {"email": "txt", "sms": "txt", "letter": "html", "landing": "html"}
_SHIPPED = Path(__file__).with_name("templates")
_LINK = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|\bhref\s*=|<a[\s>]|\bsrc\s*=|<script|<form")
_ALERTABLE = ("new", "acknowledged", "subscriber_alerted", "quarantined")


@dataclass(frozen=True)
class RenderedAlert:
    """A rendered alert: its channel, language, subject (e-mail only) and body."""

    channel: str
    language: str
    subject: str
    body: str


@dataclass
class AlertSummary:
    """What an alert run did, per subscriber."""

    sent: int = 0
    failed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # subscriber, why
    previews: list[tuple[str, RenderedAlert]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def support_site_address(settings: Settings) -> str:
    """The support site as a subscriber should type it: no scheme, no trailing slash."""
    return re.sub(r"^[a-z]+://", "", str(settings.support_site_url)).rstrip("/")


def _environment(settings: Settings) -> jinja2.Environment:
    folders = [str(_SHIPPED)]
    if settings.isp_templates_dir:
        override = Path(settings.isp_templates_dir).expanduser()
        if not override.is_dir():
            raise ConfigError(f"isp_templates_dir {override}: not a directory")
        folders.insert(0, str(override))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _render(settings: Settings, name: str, context: dict[str, Any]) -> str:
    base = {
        "isp_name": settings.isp_name,
        "isp_phone": settings.isp_support_phone,
        "support_site": support_site_address(settings),
        "today": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    try:
        text = _environment(settings).get_template(name).render({**base, **context})
    except jinja2.TemplateNotFound:
        raise ConfigError(f"alert template {name} not found") from None
    except jinja2.TemplateError as exc:
        raise ConfigError(f"alert template {name}: {exc}") from None
    found = _LINK.search(text)
    if found:
        raise ConfigError(f"alert template {name} renders a link ({found.group(0)!r}); not sent")
    return text


def render_alert(
    settings: Settings, channel: str, language: str, context: dict[str, Any]
) -> RenderedAlert:
    """Render one alert; ``context`` holds notice_ids, ips, observed, family, name, ..."""
    if channel not in CHANNELS:
        raise ConfigError(f"alert channel {channel!r} is not one of {', '.join(CHANNELS)}")
    if language not in LANGUAGES:
        language = "en"
    defaults = {"name": "", "postal_address": "", "family": "", "ips": [], "observed": ""}
    text = _render(settings, f"{channel}_{language}.{_SUFFIX[channel]}", {**defaults, **context})
    if str(context.get("notice_ids", [""])[0]) not in text:
        raise ConfigError(f"alert template {channel}_{language} does not show the notice ID")
    subject = ""
    if channel == "email":
        first, _, rest = text.partition("\n")
        if not first.startswith("Subject:"):
            raise ConfigError(f"alert template email_{language}.txt must start with 'Subject:'")
        subject, text = first.removeprefix("Subject:").strip(), rest.lstrip("\n")
    return RenderedAlert(channel, language, subject, text)


def render_landing(settings: Settings, language: str, notice_ids: Sequence[str] = ()) -> str:
    """The walled-garden landing page (HTML)."""
    lang = language if language in LANGUAGES else "en"
    return _render(settings, f"landing_{lang}.html", {"notice_ids": list(notice_ids)})


def _pending(session: Session, channel: str) -> dict[str, list[IspCase]]:
    """Matched cases awaiting an alert on this channel, by subscriber."""
    done = {
        (a.subscriber, case.notice_id or f"#{case.id}")
        for a, case in session.execute(
            select(IspAlert, IspCase)
            .join(IspCase, IspAlert.case_id == IspCase.id)
            .where(IspAlert.channel == channel, IspAlert.state.in_(("sent", "written")))
        )
    }
    query = select(IspCase).where(IspCase.match_status == "matched", IspCase.status.in_(_ALERTABLE))
    out: dict[str, list[IspCase]] = defaultdict(list)
    for case in session.scalars(query.order_by(IspCase.id)):
        if case.subscriber and (case.subscriber, case.notice_id or f"#{case.id}") not in done:
            out[case.subscriber].append(case)
    return out


def _context(cases: Sequence[IspCase], entry: IspSubscriber | None) -> dict[str, Any]:
    notices = list(dict.fromkeys(c.notice_id or f"case {c.id}" for c in cases))
    observed = min(c.observed_at for c in cases)
    return {
        "notice_ids": notices,
        "ips": list(dict.fromkeys(c.ip for c in cases)),
        "observed": observed.strftime("%Y-%m-%d %H:%M"),
        "family": next((c.family for c in cases if c.family), ""),
        "name": entry.name if entry else "",
        "postal_address": entry.postal_address if entry else "",
    }


def _smtp_send(settings: Settings, message: EmailMessage) -> None:
    host, port = str(settings.smtp_host), int(settings.smtp_port)
    try:
        with smtplib.SMTP(host, port, timeout=int(settings.smtp_timeout)) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(str(settings.smtp_user), str(settings.smtp_password))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from None


def _email(settings: Settings, alert: RenderedAlert, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = str(settings.isp_mail_from)
    message["To"] = to
    message["Subject"] = alert.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=str(settings.isp_mail_from).rpartition("@")[2])
    message.set_content(alert.body, charset="utf-8")  # plain text only: no HTML, no attachments
    return message


def _outbox(settings: Settings, channel: str) -> Path:
    folder = settings.data_path / "isp" / "alerts" / channel
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _deliver(
    settings: Settings, alert: RenderedAlert, entry: IspSubscriber | None, key: str
) -> tuple[str, str, Path | None]:
    """Send or write one alert: (state, recipient, file written)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    if alert.channel == "email":
        if not entry or not entry.email:
            raise DeliveryError("no e-mail address in the subscriber directory")
        if not settings.smtp_host:
            raise DeliveryError("smtp_host is not set")
        _smtp_send(settings, _email(settings, alert, entry.email))
        return "sent", entry.email, None
    if alert.channel == "letter":
        if not entry or not entry.postal_address:
            raise DeliveryError("no postal address in the subscriber directory")
        path = _outbox(settings, "letter") / f"{stamp}-{key}.html"
        path.write_text(alert.body, encoding="utf-8")
        return "written", entry.postal_address, path
    if not entry or not entry.phone:
        raise DeliveryError("no phone number in the subscriber directory")
    path = _outbox(settings, "sms") / f"{stamp}-{key}.txt"
    path.write_text(f"{entry.phone}\n{alert.body}", encoding="utf-8")
    return "written", entry.phone, path


def send_alerts(
    settings: Settings, engine: Engine, channel: str = "email", preview: bool = False
) -> AlertSummary:
    """Alert every subscriber with matched, unalerted cases (``preview``: render only)."""
    summary = AlertSummary()
    with session_scope(engine) as session:
        directory = {s.subscriber: s for s in session.scalars(select(IspSubscriber))}
        for n, (subscriber, cases) in enumerate(sorted(_pending(session, channel).items())):
            entry = directory.get(subscriber)
            language = (entry.language if entry else "") or str(settings.isp_language)
            alert = render_alert(settings, channel, language, _context(cases, entry))
            if preview:
                summary.previews.append((subscriber, alert))
                continue
            _attempt(settings, session, alert, entry, subscriber, cases, f"{n:05d}", summary)
    return summary


def _attempt(
    settings: Settings,
    session: Session,
    alert: RenderedAlert,
    entry: IspSubscriber | None,
    subscriber: str,
    cases: Sequence[IspCase],
    key: str,
    summary: AlertSummary,
) -> None:
    try:
        state, recipient, path = _deliver(settings, alert, entry, key)
    except DeliveryError as exc:
        state, recipient, path = "failed", "", None
        summary.failed += 1
        summary.skipped.append((subscriber, str(exc)))
        error = str(exc)
    else:
        summary.sent += 1
        error = ""
        if path is not None:
            summary.files.append(path)
    for case in cases:
        session.add(
            IspAlert(
                case_id=case.id,
                subscriber=subscriber,
                channel=alert.channel,
                language=alert.language,
                recipient=recipient,
                subject=alert.subject,
                body=alert.body,
                state=state,
                error=error,
            )
        )
        if state != "failed" and case.status in ("new", "acknowledged"):
            set_status(session, case, "subscriber_alerted", f"{alert.channel} alert {state}")
