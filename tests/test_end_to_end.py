"""The whole loop on a simulated capture: simulate -> ingest -> detect -> cases -> notify -> web."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import Case, DetectedHost
from iotnotice.demo import DemoResult, run_demo
from iotnotice.settings import Settings
from iotnotice.web.app import create_app


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Engine, DemoResult]:
    from iotnotice.db import connect
    from iotnotice.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(tmp_path_factory.mktemp("e2e") / "data"))
    engine = connect(settings)
    return settings, engine, run_demo(settings, engine, packets=200_000, seed=7)


def _truth(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {row["ip"]: row for row in csv.DictReader(fh)}


def _hosts(engine: Engine) -> dict[str, DetectedHost]:
    with session_scope(engine) as s:
        return {h.ip: h for h in s.scalars(select(DetectedHost))}


def test_mirai_bots_are_found(loop: tuple[Settings, Engine, DemoResult]) -> None:
    """Every simulated Mirai bot with at least 3 packets is classified infected/mirai."""
    _, engine, result = loop
    truth, hosts = _truth(result.truth), _hosts(engine)
    bots = [
        ip
        for ip, row in truth.items()
        if row["family"] == "mirai" and int(row.get("mirai_packets") or row["packets"]) >= 3
    ]
    assert len(bots) >= 10
    missed = [ip for ip in bots if ip not in hosts or hosts[ip].classification != "infected"]
    assert missed == []
    assert all(hosts[ip].family == "mirai" for ip in bots)


def test_victims_and_research_are_not_notified(loop: tuple[Settings, Engine, DemoResult]) -> None:
    """Backscatter victims, research scanners and spoofed sources never become cases."""
    _, engine, result = loop
    truth = _truth(result.truth)
    protected = {
        ip for ip, row in truth.items() if row["label"] in {"backscatter", "research", "spoofed"}
    }
    assert protected
    with session_scope(engine) as s:
        case_ips = set(s.scalars(select(Case.ip)))
    assert case_ips, "no case was opened"
    assert not (case_ips & protected)
    labels = Counter(truth[ip]["label"] for ip in case_ips if ip in truth)
    assert set(labels) == {"infected"}


def test_each_isp_report_holds_exactly_its_hosts(loop: tuple[Settings, Engine, DemoResult]) -> None:
    """The Shadowserver-format CSV of each ISP lists exactly the infected hosts mapped to it."""
    settings, engine, _ = loop
    hosts = _hosts(engine)
    expected: dict[str, set[str]] = {}
    for h in hosts.values():
        if h.classification == "infected" and h.isp and h.country in settings.scope_countries:
            expected.setdefault(h.isp, set()).add(h.ip)
    assert len(expected) >= 3, "the sample should reach several Japanese ISPs"
    for isp, ips in expected.items():
        files = list((settings.outbox_path / isp).glob("*-event4_honeypot_darknet-*.csv"))
        assert len(files) == 1, isp
        with files[0].open(newline="") as fh:
            reported = {row["src_ip"] for row in csv.DictReader(fh)}
        assert reported == ips, isp


def test_second_run_changes_nothing(loop: tuple[Settings, Engine, DemoResult]) -> None:
    """Running the demo again skips the already ingested capture and opens no new case."""
    settings, engine, _ = loop
    again = run_demo(settings, engine, packets=200_000, seed=7)
    assert [r.status for r in again.ingest] == ["skipped"]
    assert again.cases.opened == 0


def test_web_verifies_a_notice_without_revealing_the_ip(
    loop: tuple[Settings, Engine, DemoResult],
) -> None:
    """A notice ID from a case is genuine on the support site, and the page hides the address."""
    settings, engine, _ = loop
    with session_scope(engine) as s:
        case = s.scalars(select(Case).limit(1)).one()
    client = TestClient(create_app(settings))
    page = client.get("/verify", params={"notice_id": case.notice_id, "lang": "en"})
    assert page.status_code == 200
    assert case.family in page.text.lower()
    assert case.ip not in page.text
    assert client.get("/").status_code == 200
    ops = client.get("/operator/cases")
    assert ops.status_code in (200, 303, 401)


def test_reports_are_valid_json(loop: tuple[Settings, Engine, DemoResult]) -> None:
    """Every JSON file in the outbox parses."""
    settings, _, _ = loop
    files = list(settings.outbox_path.rglob("*.json"))
    assert files
    for f in files:
        json.loads(f.read_text())
