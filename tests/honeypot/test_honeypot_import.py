"""Importing Cowrie logs into the database, merging verdicts into hosts, and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from cowrie_lines import BOT, CowrieLog
from sqlalchemy import Engine, func, select

from iotnotice.cli import _register, cli
from iotnotice.db import connect, session_scope
from iotnotice.db.models import DetectedHost, HoneypotSession
from iotnotice.honeypot import honeypot_verdicts, import_cowrie_logs, merge_into_hosts
from iotnotice.settings import Settings

SOFTBANK = "126.1.1.1"  # AS17676 SoftBank Corp., JP, in the bundled IP data


def _mirai(session: str = "a1b2c3d4e5f6", src_ip: str = BOT) -> CowrieLog:
    return (
        CowrieLog(session, src_ip)
        .connect()
        .login("root", "xc3511")
        .cmd("enable", "system", "shell", "sh", "/bin/busybox MIRAI")
        .close()
    )


def _sessions(engine: Engine) -> int:
    with session_scope(engine) as db:
        return int(db.scalar(select(func.count()).select_from(HoneypotSession)) or 0)


def _darknet_host(engine: Engine, ip: str, classification: str, family: str | None) -> None:
    with session_scope(engine) as db:
        db.add(
            DetectedHost(
                ip=ip,
                classification=classification,
                family=family,
                confidence=0.9,
                first_seen=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
                last_seen=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
                packets=42,
                ports="23/tcp,2323/tcp",
                evidence={"rule": "darknet-test", "packets": 42},
            )
        )


def _host(engine: Engine, ip: str) -> DetectedHost:
    with session_scope(engine) as db:
        return db.scalars(select(DetectedHost).where(DetectedHost.ip == ip)).one()


def test_import_is_idempotent(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """Importing the same log twice stores each session once and changes nothing."""
    path = _mirai().write(tmp_path / "cowrie.json")
    first = import_cowrie_logs(settings, engine, [path])
    second = import_cowrie_logs(settings, engine, [path])
    assert (first.sessions_new, first.sessions_unchanged) == (1, 0)
    assert (second.sessions_new, second.sessions_updated, second.sessions_unchanged) == (0, 0, 1)
    assert _sessions(engine) == 1
    assert first.infected_sources == second.infected_sources == [BOT]


def test_session_split_over_rotated_files(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A session cut by log rotation is merged and judged again when its second half arrives."""
    whole = _mirai()
    head, tail = whole.lines[:3], whole.lines[3:]
    first = tmp_path / "cowrie.json.2026-11-24"
    first.write_text("\n".join(head) + "\n")
    second = tmp_path / "cowrie.json"
    second.write_text("\n".join(tail) + "\n")
    import_cowrie_logs(settings, engine, [first])
    with session_scope(engine) as db:
        assert db.scalars(select(HoneypotSession)).one().verdict == "suspicious"
    summary = import_cowrie_logs(settings, engine, [second, first])
    assert (summary.sessions_updated, summary.sessions_unchanged) == (1, 1)
    with session_scope(engine) as db:
        row = db.scalars(select(HoneypotSession)).one()
    assert (row.verdict, row.confidence, len(row.commands)) == ("infected", 0.99, 5)


def test_bad_file_does_not_stop_the_others(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A damaged and a missing file are reported by name and line; good sessions still land."""
    good = _mirai().write(tmp_path / "good.json")
    bad = _mirai("ffffeeeedddd", "192.0.2.77").write(tmp_path / "bad.json", ["{oops"])
    summary = import_cowrie_logs(settings, engine, [bad, tmp_path / "gone.json", good])
    assert not summary.ok
    assert summary.files[0].problem == f"{bad}:9: not JSON (JSONDecodeError)"
    assert summary.files[1].problem is not None and "gone.json" in summary.files[1].problem
    assert summary.files[2].problem is None
    assert sorted(summary.infected_sources) == ["192.0.2.77", BOT]


def test_verdict_per_source_takes_strongest_session(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A source with a clean and an infected session is infected, with the infected session."""
    clean = CowrieLog("000000000001").login("root", "nope", ok=False).close()
    log = CowrieLog("000000000000")
    log.lines = clean.lines + _mirai("000000000002").lines
    import_cowrie_logs(settings, engine, [log.write(tmp_path / "cowrie.json")])
    (v,) = honeypot_verdicts(engine)
    assert (v.ip, v.session, v.sessions, v.family, v.variant) == (
        BOT,
        "000000000002",
        2,
        "mirai",
        "MIRAI",
    )
    assert v.evidence["rule"] == "honeypot" and v.evidence["credentials"] == "root/xc3511"
    assert v.evidence["commands"][-1] == "/bin/busybox MIRAI"
    assert len(honeypot_verdicts(engine, verdicts=("clean", "infected"))) == 1


def test_merge_creates_honeypot_only_host(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A source seen only by the honeypot gets an infected host row, enriched, once."""
    import_cowrie_logs(settings, engine, [_mirai(src_ip=SOFTBANK).write(tmp_path / "c.json")])
    assert (merge_into_hosts(settings, engine).created, _host(engine, SOFTBANK).packets) == (1, 0)
    again = merge_into_hosts(settings, engine)
    host = _host(engine, SOFTBANK)
    assert (again.created, again.extended) == (0, 1)
    assert (host.classification, host.family, host.confidence) == ("infected", "mirai", 0.99)
    assert (host.evidence["rule"], host.evidence["session"]) == ("honeypot", "a1b2c3d4e5f6")
    assert (host.ports, host.asn, host.country) == ("23/tcp", 17676, "JP")
    assert host.isp is not None  # the shipped registry knows SoftBank's AS


def test_merge_extends_darknet_host(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """A darknet-infected host keeps its evidence, gains the honeypot's; its confidence rises."""
    _darknet_host(engine, BOT, "infected", "iot-unknown")
    import_cowrie_logs(settings, engine, [_mirai().write(tmp_path / "c.json")])
    for _ in range(2):  # merging again must not raise the confidence again
        assert merge_into_hosts(settings, engine).extended == 1
        host = _host(engine, BOT)
        assert host.confidence == 1 - 0.1 * 0.01
    assert (host.classification, host.family, host.packets) == ("infected", "mirai", 42)
    assert host.evidence["rule"] == "darknet-test"
    assert host.evidence["honeypot"]["session"] == "a1b2c3d4e5f6"
    assert host.evidence["honeypot"]["darknet_confidence"] == 0.9
    assert host.first_seen.replace(tzinfo=UTC) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert host.last_seen.replace(tzinfo=UTC) == datetime(2026, 11, 25, 10, 0, 8, tzinfo=UTC)
    assert host.ports == "23/tcp,2323/tcp"


def test_merge_respects_darknet_classes(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """A darknet 'scanner' becomes infected; a 'research' source only gains the evidence."""
    _darknet_host(engine, "192.0.2.10", "scanner", "masscan")
    _darknet_host(engine, "192.0.2.11", "research", None)
    log = CowrieLog("x")
    log.lines = _mirai("s10", "192.0.2.10").lines + _mirai("s11", "192.0.2.11").lines
    import_cowrie_logs(settings, engine, [log.write(tmp_path / "c.json")])
    assert merge_into_hosts(settings, engine).extended == 2
    scanner, research = _host(engine, "192.0.2.10"), _host(engine, "192.0.2.11")
    assert (scanner.classification, scanner.family, scanner.confidence) == (
        "infected",
        "mirai",
        0.99,
    )
    assert scanner.evidence["honeypot"]["darknet_classification"] == "scanner"
    assert (research.classification, research.confidence) == ("research", 0.9)
    assert research.evidence["honeypot"]["session"] == "s11"


def test_cli_import_and_sessions(tmp_path: Path) -> None:
    """`honeypot import` names the damaged file and line and exits 1; `sessions` lists the rest."""
    _register()
    good = _mirai().write(tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text(_mirai("s2", "192.0.2.5").lines[0] + "\nnot json at all\n")
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    wide = {"COLUMNS": "200"}  # rich shortens cells to fit the terminal
    result = runner.invoke(cli, [*data, "honeypot", "import", str(bad), str(good)])
    assert result.exit_code == 1, result.output
    assert f"{bad}:2: not JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Sources judged infected: 1" in result.stdout
    assert "1 created" in result.stdout
    listed = runner.invoke(cli, [*data, "honeypot", "sessions", "--ip", BOT], env=wide)
    assert listed.exit_code == 0, listed.output
    assert "a1b2c3d4e5f6" in listed.stdout and "192.0.2.5" not in listed.stdout
    clean = runner.invoke(cli, [*data, "honeypot", "import", "--no-merge", str(good)])
    assert clean.exit_code == 0 and "Hosts:" not in clean.stdout


def test_import_and_merge_on_both_databases(any_settings: Settings, tmp_path: Path) -> None:
    """Import, verdicts and merge work the same on SQLite and PostgreSQL."""
    engine = connect(any_settings)
    try:
        log = CowrieLog("x")
        log.lines = _mirai("s1").lines + _mirai("s2", "192.0.2.20").lines
        path = log.write(tmp_path / "c.json")
        for _ in range(2):
            summary = import_cowrie_logs(any_settings, engine, [path])
        assert (summary.sessions_unchanged, sorted(summary.infected_sources)) == (
            2,
            ["192.0.2.20", BOT],
        )
        assert merge_into_hosts(any_settings, engine).created == 2
        with session_scope(engine) as db:
            row = db.scalars(select(HoneypotSession).where(HoneypotSession.session == "s1")).one()
        assert row.end.replace(tzinfo=UTC) == datetime(2026, 11, 25, 10, 0, 8, tzinfo=UTC)
    finally:
        engine.dispose()


def test_detection_keeps_honeypot_evidence(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A detection run rebuilds the hosts table and the honeypot-only host is still infected."""
    from iotnotice.detect import run_detection

    import_cowrie_logs(settings, engine, [_mirai(src_ip=SOFTBANK).write(tmp_path / "c.json")])
    summary = run_detection(settings, engine)
    assert summary.honeypot_created == 1
    host = _host(engine, SOFTBANK)
    assert (host.classification, host.evidence["rule"]) == ("infected", "honeypot")
    assert run_detection(settings, engine).honeypot_created == 1
