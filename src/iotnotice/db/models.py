"""SQLAlchemy 2 models of the coordinator's database (SQLite by default, PostgreSQL too).

Portable types only: no SQLite-only SQL. Timestamps are stored as UTC. Migrations live in
``iotnotice/db/migrations`` and are applied by :func:`iotnotice.db.engine.migrate`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ApiAuditEntry",
    "Base",
    "Case",
    "CaseEvent",
    "DetectedHost",
    "HoneypotSession",
    "IngestFile",
    "Inquiry",
    "InquiryMessage",
    "Isp",
    "IspAlert",
    "IspApiToken",
    "IspCase",
    "IspQuarantine",
    "IspState",
    "IspStatusUpdate",
    "IspSubscriber",
    "OperatorUser",
    "OutboxMessage",
    "Report",
    "Sensor",
    "SensorPrefix",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Sensor(Base):
    """A darknet sensor: a name and the prefixes it monitors over time (the inventory)."""

    __tablename__ = "sensors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prefixes: Mapped[list[SensorPrefix]] = relationship(
        back_populates="sensor", cascade="all, delete-orphan", order_by="SensorPrefix.id"
    )


class SensorPrefix(Base):
    """One monitored prefix of a sensor, valid from ``since`` until ``until`` (open if null)."""

    __tablename__ = "sensor_prefixes"
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime]
    until: Mapped[datetime | None]
    sensor: Mapped[Sensor] = relationship(back_populates="prefixes")


class IngestFile(Base):
    """Ingest manifest: one row per (file content, sensor); makes ingest idempotent."""

    __tablename__ = "ingest_files"
    __table_args__ = (UniqueConstraint("sha256", "sensor_id", name="uq_ingest_sha_sensor"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    outside_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    non_ip_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    flow_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    first_ts: Mapped[datetime | None]
    last_ts: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DetectedHost(Base):
    """The latest classification of one source address (columns of schemas.HOST + evidence)."""

    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(45), unique=True)
    classification: Mapped[str] = mapped_column(String(16), index=True)
    family: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    packets: Mapped[int] = mapped_column(BigInteger)
    ports: Mapped[str] = mapped_column(Text, default="")
    asn: Mapped[int | None] = mapped_column(BigInteger)
    as_name: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    isp: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)


class Isp(Base):
    """An ISP of the registry: who gets which addresses' reports, how and in which language."""

    __tablename__ = "isps"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    display_name_ja: Mapped[str] = mapped_column(Text, default="")
    country: Mapped[str] = mapped_column(String(2), default="JP")
    asns: Mapped[list[int]] = mapped_column(JSON, default=list)
    as_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    contacts: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(2), default="ja")
    delivery: Mapped[str] = mapped_column(String(16), default="email")
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    interval_hours: Mapped[int] = mapped_column(Integer, default=24)
    pgp_key: Mapped[str] = mapped_column(Text, default="")


class Case(Base):
    """One infected host at one ISP over a period, with a public notice ID and a lifecycle."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[str] = mapped_column(String(16), unique=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    isp_id: Mapped[int | None] = mapped_column(ForeignKey("isps.id"))
    asn: Mapped[int | None] = mapped_column(BigInteger)
    country: Mapped[str | None] = mapped_column(String(2))
    family: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    ports: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    reinfection_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_reported_at: Mapped[datetime | None]
    # What the last report said (notify's suppression compares against these).
    report_digest: Mapped[str] = mapped_column(String(64), default="")
    reported_last_seen: Mapped[datetime | None]
    isp: Mapped[Isp | None] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseEvent.id"
    )


class CaseEvent(Base):
    """A timestamped change of a case, and who made it."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    case: Mapped[Case] = relationship(back_populates="events")


class Report(Base):
    """A report file written for one ISP (one format, one period)."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    isp_id: Mapped[int | None] = mapped_column(ForeignKey("isps.id"))
    period: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    case_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    isp: Mapped[Isp | None] = relationship()


class Inquiry(Base):
    """A support-centre ticket filed through the web form, with its public reference number."""

    __tablename__ = "inquiries"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(Text, default="")
    notice_id: Mapped[str] = mapped_column(String(20), default="")
    message: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="ja")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InquiryMessage(Base):
    """One message in a ticket's history: the subscriber's question or an operator's reply."""

    __tablename__ = "inquiry_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    email_message_id: Mapped[str] = mapped_column(String(255), default="")


class OperatorUser(Base):
    """An operator-console account: argon2 password hash and a role (viewer, operator, admin)."""

    __tablename__ = "operator_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """An e-mail waiting for (or past) delivery; ``message_id`` is its idempotency key."""

    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    isp_id: Mapped[int | None] = mapped_column(ForeignKey("isps.id"))
    period: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    isp: Mapped[Isp | None] = relationship()


class IspApiToken(Base):
    """A bearer token of the ISP pull API; only its SHA-256 is stored."""

    __tablename__ = "isp_api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    isp_id: Mapped[int] = mapped_column(ForeignKey("isps.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    isp: Mapped[Isp] = relationship()


class ApiAuditEntry(Base):
    """One request to the ISP pull API: who, what, and the outcome (denials included)."""

    __tablename__ = "api_audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    isp_id: Mapped[int | None] = mapped_column(ForeignKey("isps.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("isp_api_tokens.id"))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")


# --- ISP toolkit (an ISP's own deployment; subscriber identities never leave these tables) ---


class IspCase(Base):
    """One imported report line at the ISP: the address, its match to a subscriber, its handling."""

    __tablename__ = "isp_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    notice_id: Mapped[str | None] = mapped_column(String(32), index=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    src_port: Mapped[int | None] = mapped_column(Integer)
    observed_at: Mapped[datetime]
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    family: Mapped[str] = mapped_column(String(64), default="")
    protocol: Mapped[str] = mapped_column(String(16), default="")
    dst_port: Mapped[int | None] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(Text, default="")
    source_format: Mapped[str] = mapped_column(String(16))
    source_file: Mapped[str] = mapped_column(Text, default="")
    source_line: Mapped[int] = mapped_column(Integer, default=0)
    match_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    subscriber: Mapped[str | None] = mapped_column(String(255), index=True)
    match_source: Mapped[str] = mapped_column(String(16), default="")
    match_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24), default="new", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IspSubscriber(Base):
    """A subscriber of the ISP's directory: how to reach them (never sent anywhere)."""

    __tablename__ = "isp_subscribers"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    postal_address: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2), default="")


class IspAlert(Base):
    """One alert rendered or sent to a subscriber about an ISP case."""

    __tablename__ = "isp_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("isp_cases.id", ondelete="CASCADE"), index=True)
    subscriber: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(2))
    recipient: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IspQuarantine(Base):
    """A subscriber held in the walled garden, from ``since`` until released."""

    __tablename__ = "isp_quarantine"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(255), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("isp_cases.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str] = mapped_column(Text, default="")


class IspStatusUpdate(Base):
    """A case status the ISP reports back to the coordinator (notice ID and status only)."""

    __tablename__ = "isp_status_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class IspState(Base):
    """Small named values the ISP toolkit keeps between runs (e.g. the report pull cursor)."""

    __tablename__ = "isp_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class HoneypotSession(Base):
    """One honeypot session (Cowrie): who logged in with what, what ran, and its verdict."""

    __tablename__ = "honeypot_sessions"
    __table_args__ = (UniqueConstraint("sensor", "session", name="uq_honeypot_sensor_session"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor: Mapped[str] = mapped_column(String(64), default="")
    session: Mapped[str] = mapped_column(String(64))
    src_ip: Mapped[str] = mapped_column(String(45), index=True)
    src_port: Mapped[int | None] = mapped_column(Integer)
    dst_port: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(16), default="")
    start: Mapped[datetime]
    end: Mapped[datetime]
    username: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    logins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    commands: Mapped[list[Any]] = mapped_column(JSON, default=list)
    downloads: Mapped[list[Any]] = mapped_column(JSON, default=list)
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    family: Mapped[str | None] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source_file: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
