"""X-ARF v4 ``infrastructure``/``botnet`` reports, one per case, checked against the schema.

The schema files are shipped in ``data/xarf`` (MIT, see its SOURCES.md) and resolved locally
through a :mod:`referencing` registry, so validation never touches the network.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import uuid
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from iotnotice.cases.manage import aware
from iotnotice.db.models import Case
from iotnotice.detect.evidence import source_port
from iotnotice.notify.shadowserver import parse_ports
from iotnotice.settings import Settings

__all__ = ["MASTER_ID", "XARF_VERSION", "errors", "render", "report", "validator"]

XARF_VERSION = "4.2.0"
MASTER_ID = "https://xarf.org/schemas/v4/xarf-v4-master.json"
BOTNET_ID = "https://xarf.org/schemas/v4/types/infrastructure-botnet.json"
_SCHEMA_FILES = ("xarf-core.json", "xarf-v4-master.json", "types/infrastructure-botnet.json")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_TAG_UNSAFE = re.compile(r"[^a-z0-9_+-]+")


def _iso(value: datetime) -> str:
    return f"{aware(value):%Y-%m-%dT%H:%M:%SZ}"


def _format_checker() -> FormatChecker:
    # jsonschema's own date-time and hostname checks need optional packages; these are strict
    # enough for what we emit and keep the check self-contained.
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if "T" not in value.upper() or not re.search(r"(Z|[+-]\d\d:\d\d)$", value, re.I):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    @checker.checks("hostname")
    def _hostname(value: object) -> bool:
        return not isinstance(value, str) or bool(_HOSTNAME.match(value))

    return checker


@cache
def _registry() -> Registry:
    base = resources.files("iotnotice.notify").joinpath("data/xarf")
    registry: Registry = Registry()
    for name in _SCHEMA_FILES:
        contents = json.loads(base.joinpath(name).read_text())
        registry = registry.with_resource(contents["$id"], Resource.from_contents(contents))
    return registry


@cache
def validator(schema_id: str = MASTER_ID) -> Draft202012Validator:
    """A validator for the shipped master (or type) schema, with format checks on."""
    schema = _registry().contents(schema_id)
    return Draft202012Validator(schema, registry=_registry(), format_checker=_format_checker())


def errors(document: dict[str, Any], full: bool = True) -> list[str]:
    """Schema violations of a report against the botnet type schema (which includes the core)
    and, when ``full``, the master schema too (slower: it tries every category and type)."""
    found: list[str] = []
    for schema_id in (BOTNET_ID, MASTER_ID) if full else (BOTNET_ID,):
        for err in validator(schema_id).iter_errors(document):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            found.append(f"{where}: {err.message}")
    return list(dict.fromkeys(found))


def _tag(namespace: str, value: str) -> str | None:
    cleaned = _TAG_UNSAFE.sub("-", value.lower()).strip("-_+")
    return f"{namespace}:{cleaned}" if cleaned else None


def _report_id(case: Case, period: str) -> str:
    # Deterministic, so a re-run of the same period rewrites the same report rather than a twin.
    digest = hashlib.sha256(f"xarf|{case.notice_id}|{period}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _observation(case: Case) -> dict[str, Any]:
    return {
        "notice_id": case.notice_id,
        "source": case.ip,
        "first_seen": _iso(case.first_seen),
        "last_seen": _iso(case.last_seen),
        "packets": case.packets,
        "destination_ports": case.ports,
        "family": case.family,
        "detection": _safe_evidence(case.evidence or {}),
    }


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _safe_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """Scalar evidence only, and no addresses: a report must not reveal the sensor's prefixes."""
    return {
        k: v
        for k, v in evidence.items()
        if isinstance(v, int | float | bool) or (isinstance(v, str) and not _is_address(v))
    }


def _evidence_item(case: Case) -> dict[str, Any]:
    payload = json.dumps(_observation(case), sort_keys=True, default=str).encode()
    return {
        "content_type": "application/json",
        "description": "Darknet observation summary of this source (no sensor addresses)",
        "payload": base64.b64encode(payload).decode("ascii"),
        "hash": f"sha256:{hashlib.sha256(payload).hexdigest()}",
        "size": len(payload),
    }


def report(case: Case, settings: Settings, period: str) -> dict[str, Any]:
    """The X-ARF v4 infrastructure/botnet document for one case."""
    party = {
        "org": str(settings.reporter_org),
        "contact": str(settings.reporter_contact),
        "domain": str(settings.reporter_domain),
    }
    family = (case.family or "unknown").lower()
    ports = ", ".join(f"{p}/{proto}" for p, proto in parse_ports(case.ports)) or "unknown ports"
    doc: dict[str, Any] = {
        "xarf_version": XARF_VERSION,
        "report_id": _report_id(case, period),
        "timestamp": _iso(case.last_seen),
        "reporter": party,
        "sender": dict(party),
        "source_identifier": case.ip,
        "category": "infrastructure",
        "type": "botnet",
        "evidence_source": "traffic_analysis",
        "malware_family": family,
        "compromise_evidence": (
            f"{case.packets} unsolicited TCP SYN packets to unused (darknet) addresses on {ports} "
            f"between {_iso(case.first_seen)} and {_iso(case.last_seen)}, matching {family} "
            "scanning behaviour"
        ),
        "confidence": max(0.0, min(1.0, float(case.confidence))),
        "description": (
            f"Device at {case.ip} is scanning the Internet like {family}-infected IoT devices do. "
            f"Notice ID {case.notice_id}; subscribers can verify it at {settings.support_site_url}."
        )[:1000],
        "first_seen": _iso(case.first_seen),
        "last_seen": _iso(case.last_seen),
        "notice_id": case.notice_id,
        "evidence": [_evidence_item(case)],
        "tags": [t for t in (_tag("malware", family), "source:darknet") if t],
    }
    src_port = source_port(case.evidence)
    if src_port is not None:
        doc["source_port"] = src_port
    return doc


def render(document: dict[str, Any]) -> bytes:
    """The report as UTF-8 JSON bytes (stable key order)."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
