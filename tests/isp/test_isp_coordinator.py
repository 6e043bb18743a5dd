"""Coordinator round trip on loopback: pull reports, push statuses, and nothing private leaves."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from isp_helpers import NOTICE_A, NOTICE_B, T0, build_scenario
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IspCase, IspStatusUpdate
from iotnotice.errors import DeliveryError
from iotnotice.isp.alerts import send_alerts
from iotnotice.isp.casework import set_status_by_notice
from iotnotice.isp.coordinator import pull_reports, push_status, sync_every
from iotnotice.isp.logs import load_logs
from iotnotice.isp.match import match_cases
from iotnotice.isp.quarantine import quarantine_cases
from iotnotice.isp.reports import import_reports
from iotnotice.settings import Settings

TOKEN = "ino_test_token"
CSV = (
    "timestamp,protocol,src_ip,src_port,src_asn,src_geo,family,event_id\n"
    "2026-11-25 10:05:00,tcp,198.51.100.10,,64500,JP,mirai,7K3M-9QX2-HT4P-Z\n"
)
JSON = json.dumps(
    {
        "format": "iotnotice-report",
        "cases": [
            {"notice_id": NOTICE_A, "ip": "198.51.100.10", "last_seen": "2026-11-25T10:05:00Z"}
        ],
    }
)
XARF = json.dumps(
    {
        "xarf_version": "4.2.0",
        "source_identifier": "198.51.100.11",
        "timestamp": "2026-11-26T10:00:00Z",
        "notice_id": NOTICE_B,
        "reporter": {"org": "CERT"},
    }
)


@dataclass
class Coordinator:
    """What the loopback coordinator received and what it serves."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    reports: list[dict[str, object]] = field(default_factory=list)
    files: dict[int, str] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    url: str = ""


def _handler(state: Coordinator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> bool:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append((self.command, self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, '{"detail": "bad token"}')
                return False
            return True

        def do_GET(self) -> None:
            if not self._record():
                return
            if self.path == "/api/isp/v1/reports":
                self._reply(200, json.dumps(state.reports))
                return
            parts = self.path.split("/")
            if len(parts) == 7 and parts[-1] == "file" and int(parts[-2]) in state.files:
                self._reply(200, state.files[int(parts[-2])])
                return
            self._reply(404, "{}")

        def do_POST(self) -> None:
            if not self._record():
                return
            notice = self.path.split("/")[-2]
            if notice in state.refuse:
                self._reply(404, '{"detail": "no such case for this ISP"}')
                return
            status = json.loads(state.requests[-1][3])["status"]
            self._reply(200, json.dumps({"notice_id": notice, "status": status}))

    return Handler


@pytest.fixture
def coordinator() -> Iterator[Coordinator]:
    """A tiny coordinator API served on 127.0.0.1."""
    state = Coordinator()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _api(settings: Settings, coordinator: Coordinator) -> Settings:
    return settings.replace(isp_coordinator_url=coordinator.url, isp_coordinator_token=TOKEN)


def test_pull_resumes_where_it_left_off(
    settings: Settings, engine: Engine, coordinator: Coordinator
) -> None:
    """New reports are fetched once, one format per period, and imported as cases."""
    coordinator.reports = [
        {"id": 1, "period": "2026-11-25", "format": "csv", "filename": "a.csv"},
        {"id": 2, "period": "2026-11-25", "format": "json", "filename": "a.json"},
        {"id": 3, "period": "2026-11-25", "format": "email", "filename": "a.eml"},
    ]
    coordinator.files = {1: CSV, 2: JSON}
    live = _api(settings, coordinator)
    first = pull_reports(live, engine)
    assert [p.name for p in first.fetched] == ["000002-a.json"]
    assert first.imported.created == 1
    assert pull_reports(live, engine).fetched == []
    coordinator.reports.append(
        {"id": 4, "period": "2026-11-26", "format": "xarf", "filename": "B.json"}
    )
    coordinator.files[4] = XARF
    assert pull_reports(live, engine).imported.created == 1
    fetched = [path for method, path, _, _ in coordinator.requests if path.endswith("/file")]
    assert fetched == ["/api/isp/v1/reports/2/file", "/api/isp/v1/reports/4/file"]
    with session_scope(engine) as session:
        assert sorted(c.notice_id or "" for c in session.scalars(select(IspCase))) == sorted(
            [NOTICE_A, NOTICE_B]
        )


def test_bad_token_is_one_clear_error(
    settings: Settings, engine: Engine, coordinator: Coordinator
) -> None:
    """A refused token is a delivery error naming the HTTP status."""
    wrong = settings.replace(isp_coordinator_url=coordinator.url, isp_coordinator_token="nope")
    with pytest.raises(DeliveryError, match="HTTP 401"):
        pull_reports(wrong, engine)


def test_status_round_trip_and_privacy(
    files: Path, settings: Settings, engine: Engine, coordinator: Coordinator
) -> None:
    """Every status reaches the coordinator; no request carries any subscriber identity."""
    build_scenario(files, settings, engine)
    # A CGNAT customer behind an inside address with a DHCP lease naming MAC and hostname.
    (files / "dhcpd.leases").write_text(
        "lease 100.64.9.9 {\n  starts 3 2026/11/25 09:00:00;\n  ends never;\n"
        '  hardware ethernet 02:aa:bb:cc:dd:ee;\n  client-hostname "living-room-cam";\n}\n'
    )
    (files / "cgnat.csv").write_text(
        "start,end,public_ip,port_first,port_last,inside_ip,subscriber\n"
        "2026-11-25T09:00:00Z,,203.0.113.50,4096,5119,100.64.9.9,\n"
    )
    load_logs(settings, "dhcpd", [files / "dhcpd.leases"])
    load_logs(settings, "cgnat", [files / "cgnat.csv"])
    (files / "c.json").write_text(
        json.dumps(
            [
                {
                    "ip": "203.0.113.50",
                    "src_port": 4100,
                    "notice_id": "CGNT-AAAA-BBBB-C",
                    "timestamp": (T0).isoformat(),
                }
            ]
        )
    )
    import_reports(engine, [files / "c.json"])
    match_cases(settings, engine)
    send_alerts(settings, engine, "letter")
    quarantine_cases(engine)
    set_status_by_notice(engine, "CGNT-AAAA-BBBB-C", "acknowledged", "MAC 02:aa:bb:cc:dd:ee")
    set_status_by_notice(engine, NOTICE_B, "not_ours", "subscriber bob says: wrong line")
    coordinator.refuse.add(NOTICE_B)
    live = _api(settings, coordinator)
    summary = push_status(live, engine)
    posts = [(p, json.loads(b)) for m, p, _, b in coordinator.requests if m == "POST"]
    assert (
        f"/api/isp/v1/cases/{NOTICE_A}/status",
        {"status": "subscriber_alerted", "note": ""},
    ) in posts
    assert any(body["status"] == "quarantined" for _, body in posts)
    assert {p.split("/")[-2] for p, _ in posts} == {NOTICE_A, NOTICE_B, "CGNT-AAAA-BBBB-C"}
    assert {f[0] for f in summary.failed} == {NOTICE_B}  # every update of B is refused
    assert push_status(live, engine).sent == 0  # sent and refused updates are not resent
    with session_scope(engine) as session:
        states = {u.state for u in session.scalars(select(IspStatusUpdate))}
    assert states == {"sent", "rejected"}
    coordinator.reports = [{"id": 9, "period": "p", "format": "csv", "filename": "x.csv"}]
    coordinator.files = {9: CSV}
    pull_reports(live, engine)

    secrets = [
        "alice",
        "bob",
        "Alice Example",
        "山田",
        "home.example",
        "090-0000",
        "Chiyoda",
        "02-00-00-00-00-01",
        "02:aa:bb:cc:dd:ee",
        "living-room-cam",
        "100.64.9.9",
        "wrong line",
        "A1-u",
        "198.51.100.10",
        "198.51.100.11",
    ]
    with session_scope(engine) as session:  # the identities are there, locally
        held = {c.subscriber for c in session.scalars(select(IspCase))}
    assert {"alice", "bob", "02:aa:bb:cc:dd:ee"} <= held
    sent = [
        f"{method} {path}\n{json.dumps(headers)}\n{body.decode(errors='replace')}"
        for method, path, headers, body in coordinator.requests
    ]
    assert len(sent) >= 5
    for request in sent:
        for secret in secrets:
            assert secret.lower() not in request.lower(), (secret, request)


def test_scheduled_sync_survives_an_outage(
    settings: Settings, engine: Engine, coordinator: Coordinator
) -> None:
    """Each round pulls and pushes; a round with the coordinator refusing is retried later."""
    coordinator.reports = [{"id": 1, "period": "p", "format": "csv", "filename": "a.csv"}]
    coordinator.files = {1: CSV}
    waits: list[float] = []
    rounds: list[tuple[int, int]] = []
    broken = settings.replace(isp_coordinator_url=coordinator.url, isp_coordinator_token="x")
    sync_every(
        broken,
        engine,
        60,
        rounds=1,
        sleep=waits.append,
        report=lambda pulled, pushed: rounds.append((len(pulled.fetched), len(pushed.failed))),
    )
    assert rounds == [(0, 1)]  # HTTP 401: nothing imported, the failure reported
    live = _api(settings, coordinator)
    sync_every(
        live,
        engine,
        60,
        rounds=2,
        sleep=waits.append,
        report=lambda pulled, pushed: rounds.append((len(pulled.fetched), pushed.sent)),
    )
    assert rounds[1:] == [(1, 0), (0, 0)]
    assert waits == [60]
