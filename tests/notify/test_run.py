"""run_notify: per-ISP reports, status changes, suppression, interval, scope, dry run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import Engine, select

from iotnotice.cases import update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import Case, CaseEvent, Isp, OutboxMessage, Report
from iotnotice.notify import run_notify
from iotnotice.notify import xarf as xarf_mod
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # the hosts fixture's sighting time
PutHost = Callable[..., None]
ALPHA = {"198.51.100.1", "198.51.100.2", "198.51.100.3"}


def _populate(put_host: PutHost) -> None:
    for ip in sorted(ALPHA):
        put_host(ip, "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    put_host("192.0.2.8", None)  # infected, but its AS has no registry entry
    put_host("203.0.113.9", "alpha-net", country="US")  # outside the country scope
    put_host("192.0.2.50", "alpha-net", classification="backscatter")


def _csv_ips(path: Path) -> set[str]:
    return {row["src_ip"] for row in csv.DictReader(io.StringIO(path.read_text()), dialect="unix")}


def _files(settings: Settings) -> set[Path]:
    return {p for p in settings.outbox_path.rglob("*") if p.is_file()}


def test_each_isp_gets_exactly_its_own_hosts(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """Every format of an ISP's report holds exactly that ISP's in-scope infected hosts."""
    _populate(put_host)
    update_cases(settings, engine)
    summary = run_notify(settings, engine, now=T0)
    out = settings.outbox_path
    alpha_csv = out / "alpha-net/2026-03-01-event4_honeypot_darknet-alpha-net.csv"
    beta_csv = out / "beta-ne-jp/2026-03-01-event4_honeypot_darknet-beta-ne-jp.csv"
    assert _csv_ips(alpha_csv) == ALPHA
    assert _csv_ips(beta_csv) == {"192.0.2.7"}
    alpha_json = json.loads((out / "alpha-net/2026-03-01-iotnotice-alpha-net.json").read_text())
    assert {c["ip"] for c in alpha_json["cases"]} == ALPHA
    xarf_docs = [json.loads(p.read_text()) for p in (out / "alpha-net/2026-03-01-xarf").iterdir()]
    assert {d["source_identifier"] for d in xarf_docs} == ALPHA
    assert all(xarf_mod.errors(d) == [] for d in xarf_docs)
    assert {r.isp: set(r.ips) for r in summary.isps} == {
        "alpha-net": ALPHA,
        "beta.ne.jp": {"192.0.2.7"},
    }
    assert summary.unassigned == ["192.0.2.8"] and summary.out_of_scope == ["203.0.113.9"]
    assert _csv_ips(out / "_unassigned/2026-03-01-unassigned.csv") == {"192.0.2.8"}
    assert _csv_ips(out / "_out_of_scope/2026-03-01-out-of-scope.csv") == {"203.0.113.9"}
    assert set(summary.written) == _files(settings)
    everything = "".join(p.read_text(errors="replace") for p in _files(settings))
    assert "192.0.2.50" not in everything  # backscatter victims are never reported


def test_reported_cases_become_notified_with_reports_recorded(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """Reported cases move new -> notified by 'notify'; Report rows carry the files' SHA-256."""
    _populate(put_host)
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    with session_scope(engine) as session:
        status = {c.ip: c.status for c in session.scalars(select(Case))}
        assert {ip for ip, s in status.items() if s == "notified"} == ALPHA | {"192.0.2.7"}
        assert status["192.0.2.8"] == status["203.0.113.9"] == "new"
        events = session.scalars(select(CaseEvent).where(CaseEvent.to_status == "notified")).all()
        assert len(events) == 4 and {e.actor for e in events} == {"notify"}
        reports = session.scalars(select(Report)).all()
        assert {r.format for r in reports} == {"csv", "json", "xarf", "email"}
        for report in reports:
            assert hashlib.sha256(Path(report.path).read_bytes()).hexdigest() == report.sha256
        outbox = session.scalars(select(OutboxMessage)).all()
        assert sorted(m.recipients[0] for m in outbox) == [
            "abuse@alpha.example",
            "soc@beta.example",
        ]
    eml = settings.outbox_path / "beta-ne-jp/2026-03-01-beta-ne-jp.eml"
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(msg["Message-ID"]).strip() in {m.message_id for m in outbox}
    assert "192.0.2.7" in (msg.get_body(preferencelist=("plain",)) or msg).get_content()


def test_unchanged_cases_are_suppressed_then_reminded(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """An unchanged case is not re-sent within suppression_days; still active after, it is."""
    put_host("198.51.100.1", "alpha-net")
    update_cases(settings, engine)
    assert run_notify(settings, engine, now=T0).reported == 1
    before = _files(settings)
    put_host("198.51.100.1", "alpha-net", last=T0 + timedelta(days=1), packets=90)
    update_cases(settings, engine)
    second = run_notify(settings, engine, now=T0 + timedelta(days=1))
    assert second.reported == 0 and second.isps[0].suppressed == 1
    assert _files(settings) == before
    put_host("198.51.100.1", "alpha-net", last=T0 + timedelta(days=8), packets=200)
    update_cases(settings, engine)
    third = run_notify(settings, engine, now=T0 + timedelta(days=8))
    assert (third.reported, third.isps[0].reminders) == (1, 1)
    # Quiet since the last report: nothing more to say, even after the suppression window.
    assert run_notify(settings, engine, now=T0 + timedelta(days=20)).reported == 0


def test_changed_case_is_resent(settings: Settings, engine: Engine, put_host: PutHost) -> None:
    """A case whose family changed is reported again without waiting for suppression."""
    put_host("198.51.100.1", "alpha-net", family="iot-unknown")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    put_host("198.51.100.1", "alpha-net", family="mirai", last=T0 + timedelta(hours=30))
    update_cases(settings, engine)
    summary = run_notify(settings, engine, now=T0 + timedelta(days=1, hours=12))
    assert (summary.reported, summary.isps[0].changed) == (1, 1)


def test_reinfection_is_reported_as_new(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """A reinfection case is due at once, and the resolved one is not reported again."""
    from iotnotice.cases import transition

    put_host("198.51.100.1", "alpha-net")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    with session_scope(engine) as session:
        case = session.scalars(select(Case)).one()
        transition(session, case, "resolved", "isp:alpha-net", at=T0 + timedelta(hours=1))
    put_host("198.51.100.1", "alpha-net", last=T0 + timedelta(days=2))
    update_cases(settings, engine)
    summary = run_notify(settings, engine, now=T0 + timedelta(days=2))
    assert (summary.reported, summary.isps[0].new) == (1, 1)
    with session_scope(engine) as session:
        statuses = [c.status for c in session.scalars(select(Case).order_by(Case.id))]
    assert statuses == ["reinfected", "notified"]


def test_interval_defers_second_report_same_day(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """Within an ISP's aggregation interval, new cases wait for the next report."""
    put_host("198.51.100.1", "alpha-net")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    put_host("198.51.100.2", "alpha-net")
    update_cases(settings, engine)
    later = run_notify(settings, engine, now=T0 + timedelta(hours=6))
    assert later.isps[0].deferred and later.reported == 0
    next_day = run_notify(settings, engine, now=T0 + timedelta(days=1))
    assert next_day.reported == 1 and next_day.isps[0].ips == ["198.51.100.2"]


def test_dry_run_changes_nothing(settings: Settings, engine: Engine, put_host: PutHost) -> None:
    """A dry run lists what would be sent but writes no file and changes no row."""
    _populate(put_host)
    update_cases(settings, engine)
    dry = run_notify(settings, engine, dry_run=True, now=T0)
    assert dry.dry_run and dry.reported == 4 and dry.written == []
    assert any(p.name.endswith("-alpha-net.csv") for r in dry.isps for p in r.files)
    assert not settings.outbox_path.exists() or not _files(settings)
    with session_scope(engine) as session:
        assert {c.status for c in session.scalars(select(Case))} == {"new"}
        assert session.scalars(select(Report)).first() is None
    assert run_notify(settings, engine, now=T0).reported == 4


def test_failed_isp_does_not_hold_back_others(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """When one ISP's report cannot be written, the other ISP's still is, and is recorded."""
    _populate(put_host)
    update_cases(settings, engine)
    settings.outbox_path.mkdir(parents=True)
    (settings.outbox_path / "alpha-net").write_text("not a directory")
    summary = run_notify(settings, engine, now=T0)
    (failed,) = summary.failed
    assert failed.isp == "alpha-net" and failed.error
    assert (settings.outbox_path / "beta-ne-jp").is_dir()
    with session_scope(engine) as session:
        status = {c.ip: c.status for c in session.scalars(select(Case))}
    assert status["192.0.2.7"] == "notified"
    assert all(status[ip] == "new" for ip in ALPHA)


def test_registry_formats_and_delivery_choose_the_files(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """An ISP asking for csv+xarf by e-mail gets those and the .eml; an API-only ISP no .eml."""
    with session_scope(engine) as session:
        for isp in session.scalars(select(Isp)):
            isp.formats = ["csv", "xarf"] if isp.name == "alpha-net" else ["json"]
            isp.delivery = "email" if isp.name == "alpha-net" else "api"
    put_host("198.51.100.1", "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(settings, engine)
    summary = run_notify(settings, engine, now=T0)
    kinds = {
        r.isp: sorted({p.suffix + ("/xarf" if "xarf" in str(p) else "") for p in r.files})
        for r in summary.isps
    }
    assert kinds == {"alpha-net": [".csv", ".eml", ".json/xarf"], "beta.ne.jp": [".csv", ".json"]}
