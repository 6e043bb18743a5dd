"""Helpers of the ISP toolkit tests: real log records in the formats ISPs keep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine

from iotnotice.settings import Settings

__all__ = ["DIRECTORY", "NOTICE_A", "NOTICE_B", "T0", "build_scenario", "radius_record"]

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


NOTICE_A = "7K3M-9QX2-HT4P-Z"
NOTICE_B = "ABCD-EFGH-JKMN-P"
DIRECTORY = (
    "subscriber,name,email,phone,postal_address,language\n"
    "alice,Alice Example,alice@home.example,090-0000-0001,1-2-3 Chiyoda Tokyo,en\n"
    "bob,山田 太郎,bob@home.example,090-0000-0002,東京都千代田区1-2-3,ja\n"
)


def build_scenario(folder: Path, settings: Settings, engine: Engine) -> None:
    """Logs, a directory and a report where alice and bob each have one matched case."""
    from iotnotice.isp.casework import load_subscribers
    from iotnotice.isp.logs import load_logs
    from iotnotice.isp.match import match_cases
    from iotnotice.isp.reports import import_reports

    detail = folder / "detail"
    detail.write_text(
        radius_record(T0, "Start", "A1", "alice", "198.51.100.10")
        + radius_record(T0, "Start", "B1", "bob", "198.51.100.11")
    )
    load_logs(settings, "radius", [detail])
    (folder / "dir.csv").write_text(DIRECTORY)
    load_subscribers(engine, [folder / "dir.csv"])
    at = (T0 + timedelta(minutes=5)).isoformat()
    report = folder / "report.json"
    report.write_text(
        json.dumps(
            [
                {"ip": "198.51.100.10", "timestamp": at, "notice_id": NOTICE_A, "family": "mirai"},
                {"ip": "198.51.100.11", "timestamp": at, "notice_id": NOTICE_B, "family": "mirai"},
            ]
        )
    )
    import_reports(engine, [report])
    match_cases(settings.replace(isp_radius_timeout=0), engine)
