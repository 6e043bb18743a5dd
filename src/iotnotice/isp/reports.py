"""Import infection reports into ISP-side cases: Shadowserver CSV, X-ARF v4 JSON, iotnotice JSON.

Every report line becomes one :class:`~iotnotice.db.models.IspCase`, keyed by a hash of
(notice ID, address, observation time, source port), so importing a file again adds nothing.

The JSON format is a list of objects (or an object holding one under ``reports``, ``cases`` or
``items``) with ``ip`` (or ``src_ip``), one of ``timestamp`` / ``last_seen`` / ``first_seen``
(ISO 8601 or epoch seconds), and optional ``src_port`` (source port, for CGNAT), ``port`` /
``dst_port`` (port scanned; or ``ports`` as ``["23/tcp"]``), ``family``, ``protocol``,
``notice_id``. The coordinator's own report document (``{"format": "iotnotice-report",
"cases": [...]}``) is this format.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from iotnotice.db.engine import session_scope
from iotnotice.db.models import IspCase, utcnow
from iotnotice.errors import InputError

__all__ = ["ImportSummary", "ReportLine", "import_reports", "parse_report_file", "store_lines"]

_NOTICE = re.compile(
    r"\b([0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-Z*~$=U])(?![0-9A-Z])"
)
_LIST_KEYS = ("reports", "cases", "items", "events")


@dataclass(frozen=True)
class ReportLine:
    """One infected address at one time, as a report states it."""

    ip: str
    observed_at: datetime
    notice_id: str | None = None
    src_port: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    family: str = ""
    protocol: str = ""
    dst_port: int | None = None
    sender: str = ""
    source_format: str = ""
    source_file: str = ""
    source_line: int = 0

    @property
    def key(self) -> str:
        raw = f"{self.notice_id or ''}|{self.ip}|{self.observed_at.isoformat()}|{self.src_port}"
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


@dataclass
class ImportSummary:
    """What an import did: lines read, cases created, cases updated, lines already known."""

    files: int = 0
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _bad(path: Path, line: int, message: str) -> InputError:
    return InputError(path, f"line {line}: {message}")


def _time(value: Any) -> datetime | None:
    """ISO 8601 (naive means UTC) or epoch seconds; None for empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip().replace(" UTC", "").replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    # Stored as UTC: SQLite keeps no offset, so a +09:00 time must be converted, not labelled.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return port


def _notice(*values: Any) -> str | None:
    for value in values:
        if value:
            found = _NOTICE.search(str(value).upper())
            if found:
                return found.group(1)
    return None


def _line(
    path: Path, n: int, fmt: str, row: Mapping[str, Any], fields: Mapping[str, str]
) -> ReportLine:
    """Build a line from ``row`` using ``fields`` (our name -> the format's key)."""

    def get(name: str) -> Any:
        return row.get(fields.get(name, name))

    try:
        ip = str(ipaddress.ip_address(str(get("ip") or "").strip()))
    except ValueError:
        raise _bad(path, n, f"not an IP address: {get('ip')!r}") from None
    try:
        first, last = _time(get("first_seen")), _time(get("last_seen"))
        observed = _time(get("timestamp")) or last or first
        src_port, dst_port = _port(get("src_port")), _port(get("dst_port"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad(path, n, str(exc)) from None
    if observed is None:
        raise _bad(path, n, "no timestamp, first_seen or last_seen")
    return ReportLine(
        ip=ip,
        observed_at=observed,
        notice_id=_notice(get("notice_id"), get("event_id"), get("tags"), get("description")),
        src_port=src_port,
        first_seen=first,
        last_seen=last,
        family=str(get("family") or ""),
        protocol=str(get("protocol") or "").lower(),
        dst_port=dst_port,
        sender=str(get("sender") or ""),
        source_format=fmt,
        source_file=str(path),
        source_line=n,
    )


_CSV_FIELDS = {"ip": "src_ip", "tags": "tag"}
_XARF_FIELDS = {
    "ip": "source_identifier",
    "src_port": "source_port",
    "dst_port": "destination_port",
    "family": "malware_family",
}


def _csv_lines(path: Path, text: str) -> Iterator[ReportLine]:
    reader = csv.DictReader(text.splitlines())
    columns = set(reader.fieldnames or ())
    if not {"timestamp", "src_ip"} <= columns:
        raise InputError(path, "not a Shadowserver event report: needs columns timestamp, src_ip")
    for row in reader:
        yield _line(path, reader.line_num, "csv", row, _CSV_FIELDS)


def _json_items(data: Any) -> list[Any]:
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                return list(data[key])
        return [data]
    return list(data) if isinstance(data, list) else [data]


def _json_lines(path: Path, text: str) -> Iterator[ReportLine]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, exc.lineno, f"not valid JSON ({exc.msg})") from None
    for n, item in enumerate(_json_items(data), start=1):
        if not isinstance(item, dict):
            raise _bad(path, n, "report entry is not a JSON object")
        if "xarf_version" in item:
            yield _xarf_line(path, n, item)
        else:
            row = dict(item)
            row.setdefault("ip", row.get("src_ip") or row.get("source_identifier"))
            row.setdefault("src_port", row.get("source_port"))
            row.setdefault("dst_port", row.get("port"))
            _first_port(row)
            yield _line(path, n, "json", row, {})


def _first_port(row: dict[str, Any]) -> None:
    """iotnotice's own JSON lists ``ports`` as ``["23/tcp", ...]``: take the first."""
    ports = row.get("ports")
    if row.get("dst_port") is None and isinstance(ports, list) and ports:
        port, _, proto = str(ports[0]).partition("/")
        row["dst_port"] = port
        row.setdefault("protocol", proto)


def _xarf_line(path: Path, n: int, item: Mapping[str, Any]) -> ReportLine:
    if not str(item["xarf_version"]).startswith("4."):
        raise _bad(path, n, f"unsupported X-ARF version {item['xarf_version']!r}")
    row = dict(item)
    reporter = item.get("reporter")
    row["sender"] = reporter.get("org", "") if isinstance(reporter, dict) else ""
    return _line(path, n, "xarf", row, _XARF_FIELDS)


def parse_report_file(path: Path) -> list[ReportLine]:
    """Every report line of one file; the format is taken from its content."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read report: {exc}") from None
    head = text.lstrip()[:1]
    lines = _json_lines(path, text) if head in ("{", "[") else _csv_lines(path, text)
    return list(lines)


def _apply(case: IspCase, line: ReportLine) -> bool:
    """Extend a known case with a later sighting; True when it changed."""
    changed = False
    if line.last_seen and (case.last_seen is None or line.last_seen > _aware(case.last_seen)):
        case.last_seen = line.last_seen
        changed = True
    return changed


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _new_case(line: ReportLine) -> IspCase:
    return IspCase(
        key=line.key,
        notice_id=line.notice_id,
        ip=line.ip,
        src_port=line.src_port,
        observed_at=line.observed_at,
        first_seen=line.first_seen,
        last_seen=line.last_seen,
        family=line.family,
        protocol=line.protocol,
        dst_port=line.dst_port,
        sender=line.sender,
        source_format=line.source_format,
        source_file=line.source_file,
        source_line=line.source_line,
    )


def store_lines(engine: Engine, lines: Iterable[ReportLine], summary: ImportSummary) -> None:
    """Insert new cases and extend known ones (idempotent)."""
    by_key = {line.key: line for line in lines}
    with session_scope(engine) as session:
        known = {
            c.key: c for c in session.scalars(select(IspCase).where(IspCase.key.in_(list(by_key))))
        }
        for key, line in by_key.items():
            if key not in known:
                session.add(_new_case(line))
                summary.created += 1
            elif _apply(known[key], line):
                known[key].updated_at = utcnow()
                summary.updated += 1
            else:
                summary.unchanged += 1


def import_reports(engine: Engine, paths: Sequence[Path]) -> ImportSummary:
    """Parse every file first (a bad file imports nothing), then store its lines as cases."""
    summary = ImportSummary(files=len(paths))
    lines = [line for path in paths for line in parse_report_file(Path(path))]
    summary.lines = len(lines)
    store_lines(engine, lines, summary)
    return summary
