"""Our report files read back by the ISP toolkit's importer (iotnotice.isp.reports)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from iotnotice.cases import update_cases
from iotnotice.isp.reports import parse_report_file
from iotnotice.notify import run_notify
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_isp_importer_reads_every_format(
    settings: Settings, engine: Engine, put_host: Callable[..., None]
) -> None:
    """CSV, JSON and each X-ARF file parse to the ISP's own addresses with source port and time."""
    for ip in ("198.51.100.1", "198.51.100.2"):
        put_host(ip, "alpha-net")
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(settings, engine)
    run_notify(settings, engine, now=T0)
    folder = settings.outbox_path / "alpha-net"
    files = [p for p in folder.rglob("*") if p.suffix in (".csv", ".json")]
    assert len(files) == 4  # CSV, JSON, two X-ARF
    seen: dict[str, set[str]] = {}
    for path in files:
        lines = parse_report_file(path)
        assert all(line.src_port == 40123 and line.observed_at == T0 for line in lines), path
        seen.setdefault(lines[0].source_format, set()).update(line.ip for line in lines)
    assert seen == {f: {"198.51.100.1", "198.51.100.2"} for f in ("csv", "json", "xarf")}
