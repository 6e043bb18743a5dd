"""Support tickets: filing an inquiry, replying to it, and the e-mails both send.

E-mails are not sent from the web request: they are written to
``<outbox>/_inquiries/<reference>-<n>.eml`` and queued as ``OutboxMessage`` rows, which the
notify part's ``deliver_outbox`` sends with its retries (or leaves in the outbox when no SMTP
server is configured).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from iotnotice.cases.notice_id import normalise
from iotnotice.db import session_scope
from iotnotice.db.models import Inquiry, InquiryMessage, OutboxMessage
from iotnotice.errors import NotFoundError
from iotnotice.settings import Settings

__all__ = ["file_inquiry", "new_reference", "reply_to_inquiry"]

_SUBJECT = {
    "ja": {"receipt": "お問い合わせを受け付けました", "reply": "お問い合わせへの回答"},
    "en": {"receipt": "We received your inquiry", "reply": "Reply to your inquiry"},
}
_RECEIPT = {
    "ja": "お問い合わせを受け付けました。受付番号: {ref}\n担当者より順次ご連絡します。\n",
    "en": "We received your inquiry. Reference number: {ref}\nWe will reply as soon as we can.\n",
}
_FOOTER = {
    "ja": (
        "\n-- \n{org}\n"
        "このメールが金銭・パスワード・ソフトのインストールを求めることはありません。\n"
    ),
    "en": "\n-- \n{org}\nWe never ask for money, passwords or software installs.\n",
}


def new_reference(now: datetime | None = None) -> str:
    """A ticket reference such as ``Q-20261125-4F7K2A``."""
    return f"Q-{(now or datetime.now(UTC)):%Y%m%d}-{secrets.token_hex(3).upper()}"


def _queue_mail(
    settings: Settings, session: Session, inquiry: Inquiry, kind: str, body: str
) -> str:
    """Write one e-mail to the outbox and queue it for delivery; returns its Message-ID."""
    lang = inquiry.language if inquiry.language in _SUBJECT else "ja"
    msg = EmailMessage()
    msg["From"] = str(settings.reporter_contact)
    msg["To"] = inquiry.email
    msg["Subject"] = f"[{inquiry.reference}] {_SUBJECT[lang][kind]}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=str(settings.reporter_domain))
    msg.set_content(body + _FOOTER[lang].format(org=settings.reporter_org))
    folder = settings.outbox_path / "_inquiries"
    folder.mkdir(parents=True, exist_ok=True)
    count = len(list(folder.glob(f"{inquiry.reference}-*.eml")))
    path = folder / f"{inquiry.reference}-{count + 1}.eml"
    path.write_bytes(bytes(msg))
    session.add(
        OutboxMessage(
            message_id=str(msg["Message-ID"]),
            period=inquiry.reference,
            path=str(path),
            recipients=[inquiry.email],
        )
    )
    return str(msg["Message-ID"])


def file_inquiry(
    settings: Settings,
    engine: Engine,
    message: str,
    *,
    name: str = "",
    email: str = "",
    notice_id: str = "",
    language: str = "ja",
) -> str:
    """Store a new ticket (and queue a receipt when an address is given); returns its reference."""
    reference = new_reference()
    with session_scope(engine) as session:
        inquiry = Inquiry(
            reference=reference,
            name=name[:200],
            email=email.strip()[:200],
            notice_id=(normalise(notice_id) or notice_id.strip())[:20],
            message=message[:5000],
            language=language,
        )
        session.add(inquiry)
        session.flush()
        mail_id = ""
        if "@" in inquiry.email:
            mail_id = _queue_mail(
                settings, session, inquiry, "receipt", _RECEIPT[language].format(ref=reference)
            )
        session.add(
            InquiryMessage(
                inquiry_id=inquiry.id,
                author="subscriber",
                direction="in",
                body=inquiry.message,
                email_message_id=mail_id,
            )
        )
    return reference


def reply_to_inquiry(
    settings: Settings, engine: Engine, reference: str, author: str, body: str
) -> bool:
    """Record an operator's reply, e-mail it when the ticket has an address; True if e-mailed."""
    with session_scope(engine) as session:
        inquiry = session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        if inquiry is None:
            raise NotFoundError(f"no inquiry {reference!r}")
        mail_id = ""
        if "@" in inquiry.email:
            mail_id = _queue_mail(settings, session, inquiry, "reply", body)
        session.add(
            InquiryMessage(
                inquiry_id=inquiry.id,
                author=author,
                direction="out",
                body=body[:10000],
                email_message_id=mail_id,
            )
        )
        inquiry.status = "answered"
        inquiry.updated_at = datetime.now(UTC)
    return bool(mail_id)
