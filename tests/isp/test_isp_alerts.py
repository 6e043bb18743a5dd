"""Subscriber alerts: templates in ja/en, e-mail through a real SMTP server, letters, SMS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from isp_helpers import NOTICE_A, NOTICE_B, build_scenario
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IspAlert, IspCase, IspStatusUpdate
from iotnotice.errors import ConfigError
from iotnotice.isp.alerts import render_alert, render_landing, send_alerts
from iotnotice.settings import Settings

CONTEXT = {"notice_ids": [NOTICE_A], "ips": ["198.51.100.10"], "observed": "2026-11-25 10:05"}


class Sink:
    """An SMTP handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A real aiosmtpd server on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.mark.parametrize("channel", ["email", "letter", "sms"])
@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_template_is_safe(settings: Settings, channel: str, language: str) -> None:
    """Each alert shows the notice ID and the site to type, with no link of any kind."""
    alert = render_alert(settings, channel, language, CONTEXT)
    text = alert.subject + alert.body
    assert NOTICE_A in text
    assert "support.iotnotice.example" in text
    assert "://" not in text and "href" not in text.lower() and "<a " not in text
    if channel == "email":
        assert NOTICE_A in alert.subject
    if channel == "sms":
        assert len(alert.body) < 200


@pytest.mark.parametrize("language", ["ja", "en"])
def test_landing_page(settings: Settings, language: str) -> None:
    """The walled-garden landing page names the notice and the support site."""
    page = render_landing(settings, language, [NOTICE_A])
    assert NOTICE_A in page and "support.iotnotice.example" in page
    assert "<a " not in page


def test_isp_template_override_and_link_refused(tmp_path: Path, settings: Settings) -> None:
    """An ISP's template directory overrides the shipped file; a template adding a link fails."""
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "sms_en.txt").write_text("{{ isp_name }} notice {{ notice_ids[0] }}: call us.\n")
    custom = settings.replace(isp_templates_dir=str(folder), isp_name="Kumo Net")
    assert (
        render_alert(custom, "sms", "en", CONTEXT).body == f"Kumo Net notice {NOTICE_A}: call us.\n"
    )
    (folder / "sms_en.txt").write_text("Notice {{ notice_ids[0] }}: see https://evil.example/x\n")
    with pytest.raises(ConfigError, match="renders a link"):
        render_alert(custom, "sms", "en", CONTEXT)
    (folder / "sms_en.txt").write_text("Your device is infected.\n")
    with pytest.raises(ConfigError, match="does not show the notice ID"):
        render_alert(custom, "sms", "en", CONTEXT)


def test_email_alerts_through_smtp(
    files: Path, settings: Settings, engine: Engine, smtp: tuple[Sink, int]
) -> None:
    """Each subscriber gets one plain-text e-mail in their language; nobody is alerted twice."""
    sink, port = smtp
    build_scenario(files, settings, engine)
    live = settings.replace(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    preview = send_alerts(live, engine, "email", preview=True)
    assert [s for s, _ in preview.previews] == ["alice", "bob"]
    assert sink.messages == []
    summary = send_alerts(live, engine, "email")
    assert (summary.sent, summary.failed) == (2, 0)
    by_to = {m["To"]: m for m in sink.messages}
    alice, bob = by_to["alice@home.example"], by_to["bob@home.example"]
    assert NOTICE_A in alice["Subject"] and "Dear Alice Example" in alice.get_content()
    assert NOTICE_B in bob["Subject"] and "山田 太郎 様" in bob.get_content()
    for message in sink.messages:
        assert not message.is_multipart() and message.get_content_type() == "text/plain"
        assert "://" not in message.get_content()
    assert send_alerts(live, engine, "email").sent == 0
    assert len(sink.messages) == 2
    with session_scope(engine) as session:
        assert {c.status for c in session.scalars(select(IspCase))} == {"subscriber_alerted"}
        queued = session.scalars(select(IspStatusUpdate.notice_id)).all()
        assert sorted(queued) == sorted([NOTICE_A, NOTICE_B])
        assert len(session.scalars(select(IspAlert)).all()) == 2


def test_smtp_down_records_failure(files: Path, settings: Settings, engine: Engine) -> None:
    """With no SMTP server listening, alerts fail, are recorded, and cases stay unalerted."""
    build_scenario(files, settings, engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = settings.replace(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    summary = send_alerts(dead, engine, "email")
    assert (summary.sent, summary.failed) == (0, 2)
    assert "SMTP 127.0.0.1" in summary.skipped[0][1]
    with session_scope(engine) as session:
        assert {c.status for c in session.scalars(select(IspCase))} == {"new"}


def test_letters_and_sms_are_written(files: Path, settings: Settings, engine: Engine) -> None:
    """Letters are printable HTML files with the postal address; SMS texts carry the phone."""
    build_scenario(files, settings, engine)
    letters = send_alerts(settings, engine, "letter")
    assert letters.sent == 2 and len(letters.files) == 2
    html = "".join(p.read_text() for p in letters.files)
    assert "1-2-3 Chiyoda Tokyo" in html and "東京都千代田区1-2-3" in html
    assert NOTICE_A in html and NOTICE_B in html
    sms = send_alerts(settings, engine, "sms")
    texts = sorted(p.read_text() for p in sms.files)
    assert texts[0].startswith("090-0000-0001\n") and NOTICE_A in texts[0]
