"""Writes small flow stores in the store's Parquet layout for detection tests."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from iotnotice.schemas import FLOW_TUPLE, arrow_schema

T0 = int(datetime(2026, 11, 1, 0, 0, tzinfo=UTC).timestamp())
DARKNET = int(ipaddress.IPv4Address("203.0.113.0"))


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def flow(**kw: Any) -> dict[str, Any]:
    """One flow-tuple row with harmless defaults."""
    row: dict[str, Any] = {c.name: 0 for c in FLOW_TUPLE}
    row.update(time=T0, ttl=50, protocol=6, tcp_flags=2, ip_len=40, tcp_synlen=24, packet_cnt=1)
    row.update(src_ip6=None, dst_ip6=None)
    for key, value in kw.items():
        row[key] = ip(value) if key in ("src_ip", "dst_ip") and isinstance(value, str) else value
    return row


def syns(
    src: str, n: int, *, ports: Iterable[int] = (23,), start: int = T0, step: int = 60, **kw: Any
) -> list[dict[str, Any]]:
    """n single-packet SYN rows from src to distinct darknet addresses, one per interval step."""
    plist = list(ports)
    return [
        flow(
            src_ip=src,
            dst_ip=DARKNET + (i % 256),
            dst_port=plist[i % len(plist)],
            time=start + (i * step // 60) * 60,
            **kw,
        )
        for i in range(n)
    ]


def write_store(flows_root: Path, rows: list[dict[str, Any]], sensor: str = "demo") -> None:
    """Write rows as <root>/sensor=S/date=D/hour=H/test-0.parquet files (zstd)."""
    schema = arrow_schema(FLOW_TUPLE)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        when = datetime.fromtimestamp(row["time"], UTC)
        groups.setdefault((when.strftime("%Y-%m-%d"), when.hour), []).append(row)
    for (date, hour), part in groups.items():
        folder = flows_root / f"sensor={sensor}" / f"date={date}" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(
            table, folder / f"test-{len(list(folder.iterdir()))}.parquet", compression="zstd"
        )
