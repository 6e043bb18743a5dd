"""Helpers of the ISP toolkit tests: real log records in the formats ISPs keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["T0", "radius_record"]

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def radius_record(
    when: datetime, status: str, session: str, user: str, ip: str, *, tz: str = "UTC"
) -> str:
    """One FreeRADIUS detail record as radiusd writes it (header line, tab-indented pairs)."""
    local = when.astimezone(timezone(timedelta(hours=9)) if tz == "JST" else UTC)
    return (
        f"{local:%a %b %d %H:%M:%S %Y}\n"
        f'\tAcct-Session-Id = "{session}"\n'
        f"\tAcct-Status-Type = {status}\n"
        f"\tAcct-Authentic = RADIUS\n"
        f'\tUser-Name = "{user}"\n'
        f"\tNAS-IP-Address = 10.0.0.1\n"
        f"\tNAS-Port = 7\n"
        f'\tCalling-Station-Id = "02-00-00-00-00-01"\n'
        f"\tFramed-IP-Address = {ip}\n"
        f'\tEvent-Timestamp = "{local:%b %e %Y %H:%M:%S} {tz}"\n'
        f'\tAcct-Unique-Session-Id = "{session}-u"\n'
        f"\tTimestamp = {int(when.timestamp())}\n\n"
    )
