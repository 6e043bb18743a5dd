"""One JSON document per ISP and period: the same cases as the CSV, with full detail."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from iotnotice.cases.manage import aware
from iotnotice.db.models import Case, Isp
from iotnotice.detect.evidence import source_port
from iotnotice.notify.shadowserver import parse_ports
from iotnotice.settings import Settings

__all__ = ["FORMAT_VERSION", "case_record", "json_filename", "render_json"]

FORMAT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return None if value is None else f"{aware(value):%Y-%m-%dT%H:%M:%SZ}"


def json_filename(day: str, isp_slug: str) -> str:
    return f"{day}-iotnotice-{isp_slug}.json"


def case_record(case: Case, reason: str = "") -> dict[str, Any]:
    """A case as a plain JSON object."""
    return {
        "notice_id": case.notice_id,
        "ip": case.ip,
        "status": case.status,
        "family": case.family,
        "confidence": case.confidence,
        "first_seen": _iso(case.first_seen),
        "last_seen": _iso(case.last_seen),
        "packets": case.packets,
        "src_port": source_port(case.evidence),
        "ports": [f"{p}/{proto}" for p, proto in parse_ports(case.ports)],
        "asn": case.asn,
        "country": case.country,
        "reinfection": case.reinfection_of is not None,
        "reason": reason,
    }


def render_json(
    settings: Settings,
    isp: Isp | None,
    records: Sequence[dict[str, Any]],
    period: str,
    generated: datetime,
) -> bytes:
    """The JSON report document as UTF-8 bytes."""
    doc = {
        "format": "iotnotice-report",
        "version": FORMAT_VERSION,
        "reporter": {"org": settings.reporter_org, "contact": settings.reporter_contact},
        "isp": None if isp is None else {"name": isp.name, "display_name": isp.display_name},
        "period": period,
        "generated_at": _iso(generated),
        "support_site": settings.support_site_url,
        "count": len(records),
        "cases": list(records),
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
