"""``iotnotice check`` for the web part: problems that would stop or weaken the site."""

from __future__ import annotations

import re
from pathlib import Path

from iotnotice.settings import Settings

__all__ = ["check"]

_HERE = Path(__file__).parent
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


def check(settings: Settings) -> list[str]:
    """Problems with the web settings and the packaged templates and static files."""
    problems = []
    for folder in ("templates", "static"):
        if not any((_HERE / folder).iterdir()):
            problems.append(f"web: packaged {folder} folder is empty")
    if not 0 < int(settings.web_port) < 65536:
        problems.append(f"web_port {settings.web_port} is not a TCP port")
    if int(settings.verify_rate_limit) < 1 or int(settings.verify_rate_window) < 1:
        problems.append("verify_rate_limit and verify_rate_window must be at least 1")
    header = str(settings.trusted_proxy_header)
    if header and not _HEADER.match(header):
        problems.append(f"trusted_proxy_header {header!r} is not an HTTP header name")
    if not str(settings.support_phone).strip():
        problems.append("support_phone is empty: the support site shows no number to call")
    key = str(settings.secret_key)
    if key and len(key) < 32:
        problems.append("secret_key is shorter than 32 characters")
    return problems
