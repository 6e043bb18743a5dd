"""Matching report lines to subscribers through the loaded RADIUS, DHCP, Kea and CGNAT logs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from isp_helpers import T0, radius_record
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IspCase
from iotnotice.isp.logs import load_logs
from iotnotice.isp.match import match_cases
from iotnotice.isp.reports import import_reports
from iotnotice.settings import Settings

M = timedelta(minutes=1)

OVERLAPPING_LEASES = """\
lease 192.0.2.30 {
  starts 3 2026/11/25 09:00:00;
  ends 3 2026/11/25 21:00:00;
  binding state active;
  hardware ethernet 00:00:5e:00:53:01;
}
lease 192.0.2.30 {
  starts 3 2026/11/25 10:00:00;
  ends 3 2026/11/25 22:00:00;
  binding state active;
  hardware ethernet 00:00:5e:00:53:02;
}
"""

CGNAT = """\
start,end,public_ip,port_first,port_last,inside_ip,subscriber
2026-11-25T10:00:00Z,2026-11-25T12:00:00Z,203.0.113.7,1024,2047,100.64.1.23,
2026-11-25T10:00:00Z,2026-11-25T12:00:00Z,203.0.113.7,2048,3071,,CUST-2048
"""

KEA = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,"
    "user_context,pool_id\n"
    f"100.64.1.23,02:00:00:00:00:99,,86400,{int(T0.timestamp()) + 43200},1,0,0,,0,,0\n"
)


def _write_logs(files: Path) -> dict[str, Path]:
    paths = {
        "radius": files / "detail",
        "dhcpd": files / "dhcpd.leases",
        "kea": files / "kea.csv",
        "cgnat": files / "cgnat.csv",
    }
    paths["radius"].write_text(
        radius_record(T0, "Start", "A1", "alice", "198.51.100.10")
        + radius_record(T0 + 3 * M, "Start", "B1", "bob", "198.51.100.10")
    )
    paths["dhcpd"].write_text(OVERLAPPING_LEASES)
    paths["kea"].write_text(KEA)
    paths["cgnat"].write_text(CGNAT)
    return paths


def _report(files: Path) -> Path:
    def at(minutes: int) -> str:
        return (T0 + minutes * M).isoformat()

    lines = [
        {"ip": "198.51.100.10", "timestamp": at(1), "notice_id": "AAAA-AAAA-AAAA-A"},
        {"ip": "198.51.100.10", "timestamp": at(5), "notice_id": "BBBB-BBBB-BBBB-B"},
        {"ip": "192.0.2.30", "timestamp": at(90)},
        {"ip": "203.0.113.7", "timestamp": at(30), "src_port": 1500},
        {"ip": "203.0.113.7", "timestamp": at(30), "src_port": 2100},
        {"ip": "203.0.113.7", "timestamp": at(30)},
        {"ip": "203.0.113.99", "timestamp": at(30)},
        {"ip": "2001:db8::1", "timestamp": at(30)},
    ]
    path = files / "report.json"
    path.write_text(json.dumps(lines))
    return path


def test_match_cases_end_to_end(files: Path, settings: Settings, engine: Engine) -> None:
    """Every case is matched, or listed as ambiguous/unmatched with its reason, never guessed."""
    for kind, path in _write_logs(files).items():
        assert [r.status for r in load_logs(settings, kind, [path])] == ["loaded"]
        assert [r.status for r in load_logs(settings, kind, [path])] == ["skipped"]
    import_reports(engine, [_report(files)])
    summary = match_cases(settings, engine)
    assert (summary.matched, summary.ambiguous, summary.unmatched) == (4, 2, 2)
    with session_scope(engine) as session:
        cases = list(session.scalars(select(IspCase).order_by(IspCase.id)))
    got = [(c.match_status, c.subscriber) for c in cases]
    assert got == [
        ("matched", "alice"),  # 1 min after alice's Start
        ("matched", "bob"),  # alice's open session ended at bob's Start (address reuse)
        ("ambiguous", None),  # two overlapping leases, two MACs
        ("matched", "02:00:00:00:00:99"),  # CGNAT block -> inside address -> Kea lease
        ("matched", "CUST-2048"),  # CGNAT block naming its subscriber
        ("ambiguous", None),  # shared CGNAT address, no source port
        ("unmatched", None),
        ("unmatched", None),
    ]
    reasons = [c.match_reason for c in cases]
    assert "00:00:5e:00:53:01, 00:00:5e:00:53:02" in reasons[2]
    assert "shared CGNAT address" in reasons[5]
    assert reasons[6].startswith("no RADIUS/DHCP/CGNAT record covers 203.0.113.99")
    assert "IPv6" in reasons[7]
    assert cases[3].match_source == "cgnat"


def test_new_logs_resolve_unmatched_cases(files: Path, settings: Settings, engine: Engine) -> None:
    """A case unmatched today is matched after the missing log is loaded; matched ones stay."""
    import_reports(engine, [_report(files)])
    assert match_cases(settings, engine).matched == 0
    paths = _write_logs(files)
    load_logs(settings, "radius", [paths["radius"]])
    summary = match_cases(settings, engine)
    assert summary.matched == 2
    assert match_cases(settings, engine).matched == 0  # already matched cases are not redone
    assert match_cases(settings, engine, rematch=True).matched == 2
