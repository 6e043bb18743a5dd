"""Reading the ``hosts`` table for listings, exports and explanations."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.detect.evidence import summary_line
from iotnotice.errors import InputError, NotFoundError
from iotnotice.schemas import HOST

__all__ = ["HOST_COLUMNS", "get_host", "list_hosts", "write_hosts"]

# The declared host record (schemas.HOST) plus the evidence the database keeps beside it.
HOST_COLUMNS = (*(c.name for c in HOST), "evidence")


def _utc(value: datetime) -> str:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _row(host: DetectedHost) -> dict[str, Any]:
    return {
        "ip": host.ip,
        "classification": host.classification,
        "family": host.family,
        "confidence": round(host.confidence, 4),
        "first_seen": _utc(host.first_seen),
        "last_seen": _utc(host.last_seen),
        "packets": host.packets,
        "ports": host.ports,
        "asn": host.asn,
        "as_name": host.as_name,
        "country": host.country,
        "isp": host.isp,
        "evidence": summary_line(host.evidence or {}),
    }


def list_hosts(engine: Engine, classification: str | None = None) -> list[dict[str, Any]]:
    """Host rows (evidence as a one-line summary), highest confidence first."""
    query = select(DetectedHost).order_by(DetectedHost.confidence.desc(), DetectedHost.ip)
    if classification:
        query = query.where(DetectedHost.classification == classification)
    with session_scope(engine) as session:
        return [_row(h) for h in session.scalars(query)]


def get_host(engine: Engine, ip: str) -> dict[str, Any]:
    """One host with its full evidence."""
    try:
        text = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise InputError(ip, "not an IP address") from None
    with session_scope(engine) as session:
        host = session.scalars(select(DetectedHost).where(DetectedHost.ip == text)).first()
        if host is None:
            raise NotFoundError(f"{text}: not among the detected hosts (run 'iotnotice detect')")
        row = _row(host)
        row["evidence"] = host.evidence
        row["detected_at"] = _utc(host.detected_at)
    return row


def write_hosts(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as CSV or JSON text."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(HOST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
