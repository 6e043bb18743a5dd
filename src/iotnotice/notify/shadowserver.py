"""CSV reports in the exact columns of Shadowserver's ``event4_honeypot_darknet`` report.

ISPs already parse Shadowserver's files with IntelMQ, AbuseIO and home-grown scripts; using
the same columns, quoting and file name lets them feed ours through unchanged. Columns we
cannot fill (city, NAICS, device model, ...) stay empty, as they do in Shadowserver's files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from iotnotice.db.models import Case
from iotnotice.detect.evidence import source_port
from iotnotice.notify.files import slug

__all__ = ["REPORT_TYPE", "columns", "csv_filename", "parse_ports", "render_csv", "row"]

REPORT_TYPE = "event4_honeypot_darknet"


@cache
def _spec() -> dict[str, Any]:
    text = resources.files("iotnotice.notify").joinpath(f"data/{REPORT_TYPE}.json").read_text()
    return dict(json.loads(text))


def columns() -> tuple[str, ...]:
    """The report's columns, in order, as published in Shadowserver's report_schema."""
    return tuple(_spec()["fields"])


def csv_filename(day: date, isp_name: str) -> str:
    """``YYYY-MM-DD-event4_honeypot_darknet-<isp>.csv``, as Shadowserver names its files."""
    return f"{day:%Y-%m-%d}-{REPORT_TYPE}-{slug(isp_name)}.csv"


def parse_ports(ports: str) -> list[tuple[int, str]]:
    """``'23/tcp,2323/tcp'`` -> ``[(23, 'tcp'), (2323, 'tcp')]`` (malformed items skipped)."""
    out: list[tuple[int, str]] = []
    for item in ports.replace(" ", ",").split(","):
        number, _, proto = item.strip().partition("/")
        if number.isdigit():
            out.append((int(number), (proto or "tcp").lower()))
    return out


def row(case: Case) -> dict[str, str]:
    """One CSV row for a case; unknown columns are empty strings."""
    ports = parse_ports(case.ports)
    top_port, proto = ports[0] if ports else (None, "tcp")
    family = (case.family or "").lower()
    values = {
        "timestamp": f"{case.last_seen:%Y-%m-%d %H:%M:%S}",
        "protocol": proto,
        "src_ip": case.ip,
        "src_port": str(source_port(case.evidence) or ""),
        "src_asn": "" if case.asn is None or case.asn < 0 else str(case.asn),
        "src_geo": case.country or "",
        "severity": "high",
        "dst_port": "" if top_port is None else str(top_port),
        "infection": family,
        "family": family,
        "tag": ";".join(dict.fromkeys(t for t in (family, "darknet") if t)),
        "event_id": case.notice_id,
        "count": str(case.packets),
    }
    return {name: values.get(name, "") for name in columns()}


def render_csv(cases: Iterable[Case]) -> bytes:
    """The CSV file for some cases: header + one row each, every field quoted, LF line ends."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(), dialect="unix")
    writer.writeheader()
    for case in cases:
        writer.writerow(row(case))
    return buf.getvalue().encode("utf-8")
