"""Report import: Shadowserver event4_honeypot_darknet CSV, X-ARF v4 JSON and the JSON format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IspCase
from iotnotice.errors import InputError
from iotnotice.isp.reports import import_reports, parse_report_file

REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference"
COLUMNS = json.loads((REFERENCE / "shadowserver/reports.json").read_text())[
    "event4_honeypot_darknet"
]["fields"]
NOTICE = "7K3M-9QX2-HT4P-Z"


def write_shadowserver(path: Path, rows: list[dict[str, str]]) -> Path:
    """A CSV with exactly Shadowserver's event4_honeypot_darknet columns."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return path


def xarf(ip: str, notice: str, port: int | None = None) -> dict[str, object]:
    """An X-ARF v4 infrastructure/botnet report as the coordinator writes one per case."""
    report: dict[str, object] = {
        "xarf_version": "4.2.0",
        "report_id": "31cccdf0-e34b-47b7-b5a9-b8fb58b54c90",
        "timestamp": "2026-11-25T10:20:00Z",
        "reporter": {"org": "iotnotice demo CERT", "contact": "a@b.example", "domain": "b.example"},
        "sender": {"org": "iotnotice demo CERT", "contact": "a@b.example", "domain": "b.example"},
        "source_identifier": ip,
        "category": "infrastructure",
        "type": "botnet",
        "evidence_source": "traffic_analysis",
        "malware_family": "mirai",
        "first_seen": "2026-11-25T09:00:00Z",
        "last_seen": "2026-11-25T10:20:00Z",
        "compromise_evidence": "Mirai-fingerprinted SYNs to the darknet",
        "tags": ["malware:mirai", f"notice:{notice.lower()}"],
    }
    if port is not None:
        report["source_port"] = port
    return report


def _cases(engine: Engine) -> list[IspCase]:
    with session_scope(engine) as session:
        return list(session.scalars(select(IspCase).order_by(IspCase.id)))


def test_shadowserver_csv_import_is_idempotent(files: Path, engine: Engine) -> None:
    """Each CSV line becomes a case; importing the same file again adds nothing."""
    path = write_shadowserver(
        files / "2026-11-25-event4_honeypot_darknet-example-isp.csv",
        [
            {
                "timestamp": "2026-11-25 10:20:00",
                "src_ip": "198.51.100.10",
                "src_port": "40123",
                "dst_port": "23",
                "protocol": "tcp",
                "infection": "mirai",
                "family": "mirai",
                "event_id": NOTICE,
                "count": "12",
            },
            {"timestamp": "2026-11-25 11:00:00", "src_ip": "198.51.100.11", "family": "mirai"},
        ],
    )
    first = import_reports(engine, [path])
    assert (first.lines, first.created, first.unchanged) == (2, 2, 0)
    again = import_reports(engine, [path])
    assert (again.created, again.unchanged) == (0, 2)
    cases = _cases(engine)
    assert [(c.ip, c.notice_id, c.src_port, c.dst_port) for c in cases] == [
        ("198.51.100.10", NOTICE, 40123, 23),
        ("198.51.100.11", None, None, None),
    ]
    assert cases[0].source_format == "csv" and cases[0].source_line == 2


def test_xarf_and_json_formats(files: Path, engine: Engine) -> None:
    """X-ARF v4 files (one object, or a list) and the JSON format all import."""
    (files / "case.json").write_text(json.dumps(xarf("198.51.100.20", NOTICE, 51000)))
    (files / "report.json").write_text(
        json.dumps(
            {
                "reports": [
                    {
                        "ip": "198.51.100.21",
                        "timestamp": 1795602000,
                        "port": 2323,
                        "family": "mirai",
                        "notice_id": "ABCD-EFGH-JKMN-P",
                    },
                    {"src_ip": "2001:db8::5", "last_seen": "2026-11-25T10:00:00+09:00"},
                ]
            }
        )
    )
    summary = import_reports(engine, [files / "case.json", files / "report.json"])
    assert summary.created == 3
    cases = {c.ip: c for c in _cases(engine)}
    assert cases["198.51.100.20"].notice_id == NOTICE
    assert cases["198.51.100.20"].src_port == 51000
    assert cases["198.51.100.20"].sender == "iotnotice demo CERT"
    assert cases["198.51.100.21"].dst_port == 2323
    assert cases["198.51.100.21"].notice_id == "ABCD-EFGH-JKMN-P"
    assert cases["2001:db8::5"].observed_at.hour == 1  # 10:00+09:00 stored as UTC


def test_later_sighting_extends_case(files: Path, engine: Engine) -> None:
    """The same line reported again with a later last_seen updates the known case."""
    report = xarf("198.51.100.20", NOTICE)
    (files / "a.json").write_text(json.dumps(report))
    import_reports(engine, [files / "a.json"])
    report["last_seen"] = "2026-11-26T08:00:00Z"
    (files / "b.json").write_text(json.dumps(report))
    summary = import_reports(engine, [files / "b.json"])
    assert (summary.created, summary.updated) == (0, 1)
    assert _cases(engine)[0].last_seen.day == 26


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.csv",
            "timestamp,src_ip\n2026-11-25 10:00:00,198.51.100.1\nnow,198.51.100.2\n",
            r"bad\.csv: line 3: .*now",
        ),
        (
            "bad2.csv",
            "timestamp,src_ip\n2026-11-25 10:00:00,not-an-ip\n",
            r"bad2\.csv: line 2: not an IP address",
        ),
        ("cols.csv", "time,ip\n1,2\n", r"cols\.csv: not a Shadowserver event report"),
        ("broken.json", '{"reports": [\n{"ip": }]}', r"broken\.json: line 2: not valid JSON"),
        (
            "old.json",
            '{"xarf_version": "3.0.0", "source_identifier": "1.2.3.4"}',
            r"old\.json: line 1: unsupported X-ARF version",
        ),
    ],
)
def test_bad_report_names_file_and_line(files: Path, name: str, text: str, message: str) -> None:
    """A damaged report is one error naming the file and the line."""
    (files / name).write_text(text)
    with pytest.raises(InputError, match=message):
        parse_report_file(files / name)


def test_coordinator_json_document(files: Path, engine: Engine) -> None:
    """The coordinator's own JSON report document imports, ports and all."""
    doc = {
        "format": "iotnotice-report",
        "version": 1,
        "cases": [
            {
                "notice_id": NOTICE,
                "ip": "198.51.100.30",
                "first_seen": "2026-11-25T09:00:00Z",
                "last_seen": "2026-11-25T10:00:00Z",
                "ports": ["2323/tcp", "23/tcp"],
                "family": "mirai",
            }
        ],
    }
    (files / "doc.json").write_text(json.dumps(doc))
    [line] = parse_report_file(files / "doc.json")
    assert (line.notice_id, line.dst_port, line.protocol) == (NOTICE, 2323, "tcp")
    assert line.observed_at.hour == 10
