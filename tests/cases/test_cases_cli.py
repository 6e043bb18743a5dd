"""The cases and notify commands, run through the real click group."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from iotnotice.cli import cli
from iotnotice.cli.cases import cases_group
from iotnotice.cli.notify import api_token_group, deliver_cmd, notify_cmd
from iotnotice.db import session_scope
from iotnotice.db.models import Case
from iotnotice.settings import Settings

cli.add_command(cases_group)
cli.add_command(notify_cmd)
cli.add_command(deliver_cmd)
cli.add_command(api_token_group)


def _run(settings: Settings, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, ["--data-dir", str(settings.data_path), *args], env={"COLUMNS": "200"}
    )


def _notice(engine: Engine) -> str:
    with session_scope(engine) as session:
        return session.scalars(select(Case.notice_id)).one()


def test_notify_then_list_and_show(
    settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> None:
    """notify opens and reports cases; cases list/show display them with their history."""
    put_host("192.0.2.10")
    dry = _run(settings, "notify", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert not (settings.outbox_path / "alpha-net").exists()
    result = _run(settings, "notify")
    assert result.exit_code == 0, result.output
    assert "Alpha Net" in result.output
    assert any(Path(settings.outbox_path / "alpha-net").glob("*-event4_honeypot_darknet-*.csv"))
    listing = _run(settings, "cases", "list", "--status", "notified", "--isp", "alpha-net")
    assert listing.exit_code == 0 and "192.0.2.10" in listing.output
    notice = _notice(engine)
    shown = _run(settings, "cases", "show", notice.lower().replace("-", " "))
    assert shown.exit_code == 0, shown.output
    assert notice in shown.output and "new -> notified" in shown.output


def test_set_status_and_errors(
    settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> None:
    """set-status applies legal changes; illegal ones and unknown IDs are one-line errors."""
    put_host("192.0.2.10")
    _run(settings, "notify")
    notice = _notice(engine)
    ok = _run(settings, "cases", "set-status", notice, "acknowledged", "--note", "ticket 7")
    assert ok.exit_code == 0 and "notified -> acknowledged" in ok.output
    bad = _run(settings, "cases", "set-status", notice, "new")
    assert bad.exit_code == 1 and "cannot go from 'acknowledged' to 'new'" in bad.output
    assert "Traceback" not in bad.output
    typo = notice[:-1] + ("0" if notice[-1] != "0" else "1")
    missing = _run(settings, "cases", "show", typo)
    assert missing.exit_code == 1 and "not a valid notice ID" in missing.output
    unknown_isp = _run(settings, "cases", "list", "--isp", "nobody")
    assert unknown_isp.exit_code == 1 and "no ISP named 'nobody'" in unknown_isp.output


def test_deliver_without_smtp_host_is_a_clear_error(settings: Settings, engine: Engine) -> None:
    """deliver with no SMTP server configured says so in one line and exits 1."""
    result = _run(settings, "deliver")
    assert result.exit_code == 1
    assert "no smtp_host configured" in result.output and "Traceback" not in result.output


def test_api_token_create_list_revoke(settings: Settings, engine: Engine) -> None:
    """A token is printed once, listed by prefix only, and can be revoked."""
    created = _run(settings, "api-token", "create", "alpha-net", "--label", "noc")
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("ino_") and len(token) > 40
    listing = _run(settings, "api-token", "list")
    assert "alpha-net" in listing.output and token not in listing.output
    assert "active" in listing.output
    assert _run(settings, "api-token", "revoke", "1").exit_code == 0
    assert "revoked" in _run(settings, "api-token", "list").output
    unknown = _run(settings, "api-token", "create", "nobody")
    assert unknown.exit_code == 1 and "no ISP named 'nobody'" in unknown.output


def test_cases_update(settings: Settings, engine: Engine, put_host: Callable[..., None]) -> None:
    """cases update opens cases for infected hosts; --dry-run only says it would."""
    put_host("192.0.2.10")
    dry = _run(settings, "cases", "update", "--dry-run")
    assert dry.exit_code == 0 and "1 would be opened" in dry.output
    with session_scope(engine) as session:
        assert session.scalars(select(Case)).first() is None
    real = _run(settings, "cases", "update")
    assert real.exit_code == 0 and "1 were opened" in real.output
    assert _notice(engine)
