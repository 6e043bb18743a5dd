"""``check()`` for the notify part: report formats, reporter identity, SMTP and OpenPGP settings."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from iotnotice.db.models import Case
from iotnotice.notify import shadowserver, xarf
from iotnotice.settings import Settings

__all__ = ["check"]


def _formats(settings: Settings) -> list[str]:
    problems = []
    if not {"src_ip", "event_id", "count"} <= set(shadowserver.columns()):
        problems.append("the shipped Shadowserver column list is damaged")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    sample = Case(
        notice_id="0000-0000-0000-0",
        ip="192.0.2.1",
        family="mirai",
        confidence=1.0,
        first_seen=t,
        last_seen=t,
        packets=1,
        ports="23/tcp",
        evidence={},
    )
    problems += [
        f"X-ARF with these reporter settings is invalid: {e}"
        for e in xarf.errors(xarf.report(sample, settings, "check"))
    ]
    return problems


def _smtp(settings: Settings) -> list[str]:
    if not settings.smtp_host:
        return []
    problems = []
    if not 0 < int(settings.smtp_port) < 65536:
        problems.append(f"smtp_port {settings.smtp_port} is not a port number")
    if settings.smtp_user and not settings.smtp_starttls:
        problems.append("smtp_user is set but smtp_starttls is off: the password would go in clear")
    if settings.smtp_cafile and not Path(str(settings.smtp_cafile)).is_file():
        problems.append(f"smtp_cafile {settings.smtp_cafile} does not exist")
    return problems


def _pgp(settings: Settings) -> list[str]:
    if not settings.pgp_signing_key:
        return []
    gpg = shutil.which("gpg")
    if gpg is None:
        return ["pgp_signing_key is set but the gpg program is not installed"]
    cmd = [gpg, "--batch", "--list-secret-keys", str(settings.pgp_signing_key)]
    if settings.gnupg_home:
        cmd[1:1] = ["--homedir", str(settings.gnupg_home)]
    proc = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    if proc.returncode != 0:
        return [f"no secret key {settings.pgp_signing_key!r} for signing report e-mail"]
    return []


def check(settings: Settings) -> list[str]:
    """Problems that would stop reports from being written or delivered; empty when fine."""
    return _formats(settings) + _smtp(settings) + _pgp(settings)
