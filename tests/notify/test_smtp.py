"""SMTP delivery against real aiosmtpd servers on 127.0.0.1: TLS, AUTH, retries, exactly-once."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from iotnotice.cases import update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import OutboxMessage, utcnow
from iotnotice.notify import run_notify
from iotnotice.notify.smtp import deliver_outbox
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
USER, PASSWORD = "iotnotice", "s3cret-pass"


@dataclass
class Sink:
    """An SMTP handler that keeps what it accepts and can refuse or crash the client."""

    refuse_data: int = 0
    reject_rcpt: set[str] = field(default_factory=set)
    kill_pid: int | None = None
    received: list[tuple[list[str], Any, bool]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.reject_rcpt:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data > 0:
            self.refuse_data -= 1
            return "451 4.3.0 temporarily unable, try again"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), msg, session.authenticated))
        if self.kill_pid is not None:
            # The server has the message; the client dies before it can record that.
            os.kill(self.kill_pid, signal.SIGKILL)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [str(msg["Message-ID"]).strip() for _, msg, _ in self.received]


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def server(sink: Sink, tls_files: tuple[Path, Path]) -> Iterator[int]:
    """A STARTTLS + AUTH-required SMTP server on loopback; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
    port = _free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings: Settings, server: int, tls_files: tuple[Path, Path]) -> Settings:
    return settings.replace(
        smtp_host="127.0.0.1",
        smtp_port=server,
        smtp_user=USER,
        smtp_password=PASSWORD,
        smtp_cafile=str(tls_files[0]),
        smtp_timeout=10,
        smtp_backoff_seconds=60,
    )


def _queue(settings: Settings, engine: Engine, put_host: Callable[..., None]) -> None:
    put_host("198.51.100.1", "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)


def _rows(engine: Engine) -> dict[str, OutboxMessage]:
    with session_scope(engine) as session:
        return {r.recipients[0]: r for r in session.scalars(select(OutboxMessage))}


def test_delivers_each_isp_its_report_over_starttls_and_auth(
    smtp_settings: Settings, engine: Engine, put_host: Callable[..., None], sink: Sink
) -> None:
    """Each ISP's e-mail reaches exactly its contacts, authenticated, with its own CSV."""
    _queue(smtp_settings, engine, put_host)
    summary = deliver_outbox(smtp_settings, engine)
    assert len(summary.sent) == 2 and not summary.failed
    by_rcpt = {tuple(rcpts): msg for rcpts, msg, _ in sink.received}
    assert set(by_rcpt) == {("abuse@alpha.example",), ("soc@beta.example",)}
    assert all(authenticated for _, _, authenticated in sink.received)
    (attachment,) = list(by_rcpt[("soc@beta.example",)].iter_attachments())
    assert "192.0.2.7" in attachment.get_content()
    assert "198.51.100.1" not in attachment.get_content()
    rows = _rows(engine)
    assert {r.status for r in rows.values()} == {"sent"}
    assert sorted(sink.message_ids()) == sorted(r.message_id for r in rows.values())
    assert deliver_outbox(smtp_settings, engine).sent == []  # nothing is sent twice


def test_wrong_password_fails_without_retry(
    smtp_settings: Settings, engine: Engine, put_host: Callable[..., None], sink: Sink
) -> None:
    """A rejected login (535) is permanent: the message is marked failed, nothing is sent."""
    _queue(smtp_settings, engine, put_host)
    summary = deliver_outbox(smtp_settings.replace(smtp_password="wrong"), engine)
    assert len(summary.failed) == 2 and sink.received == []
    assert all("535" in e for e in summary.errors.values())
    assert {r.status for r in _rows(engine).values()} == {"failed"}


def test_server_refusing_then_accepting_is_retried_with_backoff(
    smtp_settings: Settings, engine: Engine, put_host: Callable[..., None], sink: Sink
) -> None:
    """451 replies are retried after a doubling delay until the server accepts."""
    _queue(smtp_settings, engine, put_host)
    sink.refuse_data = 3
    first = deliver_outbox(smtp_settings, engine, now=T0)
    assert len(first.retrying) == 2 and sink.received == []
    rows = _rows(engine)
    assert all(r.next_attempt_at is not None for r in rows.values())
    assert deliver_outbox(smtp_settings, engine, now=T0 + timedelta(seconds=30)).retrying == []
    second = deliver_outbox(smtp_settings, engine, now=T0 + timedelta(seconds=61))
    # One more refusal left: the first message is retried later, the second goes through.
    assert (len(second.retrying), len(second.sent)) == (1, 1)
    third = deliver_outbox(smtp_settings, engine, now=T0 + timedelta(seconds=61 + 121))
    assert len(third.sent) == 1
    assert {r.status for r in _rows(engine).values()} == {"sent"}
    assert sorted(r.attempts for r in _rows(engine).values()) == [2, 3]
    assert len(sink.received) == 2


def test_wait_mode_retries_until_accepted(
    smtp_settings: Settings, engine: Engine, put_host: Callable[..., None], sink: Sink
) -> None:
    """With wait=True delivery sleeps through the back-off and finishes in one call."""
    _queue(smtp_settings, engine, put_host)
    sink.refuse_data = 2
    fast = smtp_settings.replace(smtp_backoff_seconds=0)
    summary = deliver_outbox(fast, engine, wait=True)
    assert len(summary.sent) == 2 and summary.retrying == [] and len(sink.received) == 2


def test_one_refused_isp_does_not_hold_back_the_other(
    smtp_settings: Settings, engine: Engine, put_host: Callable[..., None], sink: Sink
) -> None:
    """A permanently refused recipient fails its own message only."""
    _queue(smtp_settings, engine, put_host)
    sink.reject_rcpt = {"abuse@alpha.example"}
    summary = deliver_outbox(smtp_settings, engine)
    assert len(summary.failed) == 1 and len(summary.sent) == 1
    rows = _rows(engine)
    assert rows["abuse@alpha.example"].status == "failed"
    assert "550" in rows["abuse@alpha.example"].last_error
    assert rows["soc@beta.example"].status == "sent"


def test_no_server_is_a_temporary_failure(
    settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> None:
    """Connection refused leaves messages pending for a later attempt."""
    _queue(settings, engine, put_host)
    down = settings.replace(smtp_host="127.0.0.1", smtp_port=_free_port(), smtp_timeout=5)
    summary = deliver_outbox(down, engine)
    assert len(summary.retrying) == 2
    assert all(r.status == "pending" and r.attempts == 1 for r in _rows(engine).values())


def test_crash_between_send_and_record_resends_same_message_id(
    smtp_settings: Settings,
    engine: Engine,
    put_host: Callable[..., None],
    sink: Sink,
    tmp_path: Path,
) -> None:
    """A sender killed after the server accepted resends with the same Message-ID, once."""
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(smtp_settings, engine)
    run_notify(smtp_settings, engine, now=T0)
    passed = {k: v for k, v in smtp_settings.values.items() if k.startswith("smtp_")}
    passed["data_dir"] = smtp_settings.data_dir
    env = {**os.environ, **{f"IOTNOTICE_{k.upper()}": str(v) for k, v in passed.items()}}
    code = (
        "from iotnotice.settings import load_settings\n"
        "from iotnotice.db import connect\n"
        "from iotnotice.notify.smtp import deliver_outbox\n"
        "s = load_settings()\n"
        "deliver_outbox(s, connect(s))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    sink.kill_pid = child.pid
    assert child.wait(timeout=60) == -signal.SIGKILL
    (row,) = _rows(engine).values()
    assert row.status == "sending" and len(sink.received) == 1
    sink.kill_pid = None
    # The dead sender's claim still holds: nobody else takes the message yet.
    assert deliver_outbox(smtp_settings, engine).sent == []
    after_lease = utcnow() + timedelta(seconds=4 * 10 + 31)
    summary = deliver_outbox(smtp_settings, engine, now=after_lease)
    assert summary.sent == [row.message_id]
    assert sink.message_ids() == [row.message_id, row.message_id]  # a duplicate the ISP can drop
    assert _rows(engine)["soc@beta.example"].status == "sent"
    assert deliver_outbox(smtp_settings, engine).sent == []
