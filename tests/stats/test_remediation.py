"""Remediation figures from a hand-built case history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from iotnotice.cli import cli
from iotnotice.cli.stats import remediation_cmd
from iotnotice.db import connect, session_scope
from iotnotice.db.models import Case, CaseEvent, Isp
from iotnotice.settings import load_settings
from iotnotice.stats.remediation import notified_cases, remediation, survival_curve

DAY0 = datetime(2025, 5, 1, tzinfo=UTC)
NOW = DAY0 + timedelta(days=40)


def _case(n: int, isp: Isp, last_seen_day: float, status: str, **kw: object) -> Case:
    return Case(
        notice_id=f"TEST-0000-000{n}-X",
        ip=f"192.0.2.{n}",
        isp=isp,
        family="mirai",
        confidence=1.0,
        first_seen=DAY0 - timedelta(days=2),
        last_seen=DAY0 + timedelta(days=last_seen_day),
        status=status,
        **kw,
    )


def test_cleaned_shares_median_and_reinfection(tmp_path: Path) -> None:
    """Shares per horizon count only eligible cases; unnotified cases are left out."""
    engine = connect(load_settings(environ={}, data_dir=str(tmp_path)))
    with session_scope(engine) as session:
        east, west = Isp(name="east", display_name="E"), Isp(name="west", display_name="W")
        a = _case(1, east, 3, "resolved")
        b = _case(2, east, 20, "expired")
        c = _case(3, west, 31, "reinfected")
        d = _case(4, west, 39.5, "new")
        session.add_all([a, b, c, d])
        session.flush()
        session.add(_case(5, west, 39.9, "new", reinfection_of=c.id))
        for case, day in ((a, 0), (b, 0), (c, 30)):
            case.events.append(
                CaseEvent(actor="notify", to_status="notified", at=DAY0 + timedelta(days=day))
            )
        a.events.append(CaseEvent(actor="isp", to_status="resolved", at=DAY0 + timedelta(days=4)))
    rows = {r["isp"]: r for r in remediation(engine, now=NOW)}
    assert rows["east"]["notified"] == 2 and rows["west"]["notified"] == 1
    assert rows["east"]["cleaned_7d"] == 0.5 and rows["east"]["cleaned_30d"] == 1.0
    assert rows["west"]["cleaned_7d"] == 1.0 and rows["west"]["cleaned_14d"] is None
    assert rows["all"]["notified"] == 3 and rows["all"]["cleaned_7d"] == pytest.approx(2 / 3)
    assert rows["all"]["median_days_to_last_seen"] == pytest.approx(3)
    assert rows["all"]["reinfection_rate"] == pytest.approx(1 / 3)
    assert rows["all"]["isp_confirmed"] == 1 and rows["all"]["active"] == 0
    curve = dict(survival_curve(notified_cases(engine), NOW))
    assert curve[0] == 1.0 and curve[1] == 1.0 and curve[2] == pytest.approx(2 / 3)
    assert curve[4] == pytest.approx(1 - 2 / 3) and curve[30] == pytest.approx(0.0)
    engine.dispose()


def test_remediation_command_prints_each_isp(tmp_path: Path) -> None:
    """`iotnotice remediation --format json` lists every ISP with notified cases and 'all'."""
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    engine = connect(settings)
    with session_scope(engine) as session:
        case = _case(1, Isp(name="east", display_name="E"), 3, "resolved")
        case.events.append(CaseEvent(actor="notify", to_status="notified", at=DAY0))
        session.add(case)
    engine.dispose()
    cli.add_command(remediation_cmd)
    out = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "remediation", "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["isp"] for r in rows] == ["east", "all"] and rows[0]["cleaned_7d"] == 1.0
    table = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "remediation"])
    assert table.exit_code == 0 and "east" in table.output
