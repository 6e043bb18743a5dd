"""The ``iotnotice isp`` commands through the real click group: the whole ISP-side flow."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from isp_helpers import DIRECTORY, NOTICE_A, T0, radius_record

from iotnotice.cli import cli
from iotnotice.cli.isp import isp_group
from iotnotice.settings import Settings

cli.add_command(isp_group)


def _run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--data-dir", str(settings.data_path), *args], env={"COLUMNS": "200"}
    )


def test_isp_flow(files: Path, settings: Settings) -> None:
    """load-logs, import-reports, match, cases, alert --preview, quarantine export all work."""
    (files / "detail").write_text(radius_record(T0, "Start", "A1", "alice", "198.51.100.10"))
    (files / "dir.csv").write_text(DIRECTORY)
    (files / "r.json").write_text(
        json.dumps(
            [
                {"ip": "198.51.100.10", "timestamp": "2026-11-25T10:05:00Z", "notice_id": NOTICE_A},
                {"ip": "198.51.100.99", "timestamp": "2026-11-25T10:05:00Z"},
            ]
        )
    )
    loaded = _run(settings, "isp", "load-logs", "--radius", str(files / "detail"))
    assert loaded.exit_code == 0 and "loaded" in loaded.output
    assert "skipped" in _run(settings, "isp", "load-logs", "--radius", str(files / "detail")).output
    assert (
        "2 subscriber(s)"
        in _run(settings, "isp", "load-subscribers", str(files / "dir.csv")).output
    )
    imported = _run(settings, "isp", "import-reports", str(files / "r.json"))
    assert "2 new" in imported.output
    matched = _run(settings, "isp", "match")
    assert "1 matched" in matched.output and "1 unmatched" in matched.output
    assert "no RADIUS/DHCP/CGNAT record covers 198.51.100.99" in matched.output
    cases = _run(settings, "isp", "cases", "--match", "matched")
    assert (
        NOTICE_A in cases.output and "alice" in cases.output and "198.51.100.99" not in cases.output
    )
    preview = _run(settings, "isp", "alert", "--channel", "email", "--preview")
    assert preview.exit_code == 0
    assert "Subject: [Example ISP]" in preview.output and NOTICE_A in preview.output
    assert "1 alert(s) previewed, none sent" in preview.output
    assert _run(settings, "isp", "quarantine", "add", "1").exit_code == 0
    radius = _run(settings, "isp", "quarantine", "export", "--format", "radius")
    assert '"alice"' in radius.output and "Filter-Id" in radius.output
    landing = _run(settings, "isp", "quarantine", "landing", "--lang", "en")
    assert "support.iotnotice.example" in landing.output
    queued = _run(settings, "isp", "status", NOTICE_A, "acknowledged")
    assert "1 case(s)" in queued.output and "update queued" in queued.output
    assert _run(settings, "isp", "note", "1", "called the customer").exit_code == 0
    shown = _run(settings, "isp", "show", "1").output
    assert "walled garden active" in shown and "called the customer" in shown
    assert "to coordinator: acknowledged pending" in shown and "matched alice radius" in shown


def test_bad_inputs_are_one_line_errors(files: Path, settings: Settings) -> None:
    """Damaged files, unknown notices and a missing coordinator give one line and exit 1."""
    (files / "detail").write_text('Wed Nov 25 10:00:00 2026\n\tUser-Name = "x"\nnonsense\n')
    bad = _run(settings, "isp", "load-logs", "--radius", str(files / "detail"))
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        f"error: {files / 'detail'}: line 3: not a FreeRADIUS detail record line"
    ]
    (files / "r.csv").write_text("timestamp,src_ip\n2026-11-25 10:00:00,999.1.1.1\n")
    report = _run(settings, "isp", "import-reports", str(files / "r.csv"))
    assert report.exit_code == 1 and "r.csv: line 2: not an IP address" in report.output
    unknown = _run(settings, "isp", "status", "ZZZZ-ZZZZ-ZZZZ-Z", "resolved")
    assert unknown.exit_code == 1 and "no case with notice ID ZZZZ-ZZZZ-ZZZZ-Z" in unknown.output
    pull = _run(settings, "isp", "pull")
    assert pull.exit_code == 1 and "isp_coordinator_url is not set" in pull.output
    assert "Traceback" not in bad.output + report.output + unknown.output + pull.output
