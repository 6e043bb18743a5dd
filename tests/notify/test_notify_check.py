"""notify's check(): catches bad reporter identity, SMTP and OpenPGP settings."""

from __future__ import annotations

from pathlib import Path

from iotnotice.notify.check import check
from iotnotice.settings import Settings


def test_defaults_pass(settings: Settings) -> None:
    """The shipped defaults produce valid reports and need no SMTP or gpg."""
    assert check(settings) == []


def test_bad_reporter_identity_is_reported(settings: Settings) -> None:
    """A reporter contact that is no e-mail address makes X-ARF invalid, and check says so."""
    problems = check(settings.replace(reporter_contact="nobody", reporter_domain="not a host"))
    assert len(problems) >= 2 and all("X-ARF" in p for p in problems)


def test_smtp_and_pgp_problems(settings: Settings, tmp_path: Path) -> None:
    """Clear-text AUTH, a missing CA file and an unknown signing key are each reported."""
    bad = settings.replace(
        smtp_host="127.0.0.1",
        smtp_user="u",
        smtp_starttls=False,
        smtp_cafile=str(tmp_path / "missing.pem"),
        pgp_signing_key="nobody@nowhere.example",
        gnupg_home=str(tmp_path),
    )
    problems = check(bad)
    assert any("in clear" in p for p in problems)
    assert any("smtp_cafile" in p for p in problems)
    assert any("no secret key" in p for p in problems)
