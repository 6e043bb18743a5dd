# mypy: disable-error-code="no-any-return"
"""Daily aggregates of the flow files an ingest writes, computed from the rows in memory.

The flow writer hands each part of a flow file to :class:`IngestAggregator` as it writes it
(``add``) and says when the file is complete (``close``); the file's aggregates are then staged
beside the flow files' temporary copies, and :meth:`IngestAggregator.install` moves them into
``<data_dir>/aggregates`` once the flow files are committed. The files hold exactly what
:func:`~iotnotice.stats.aggregates.aggregate_committed_files` computes by re-reading the flow
files (same keys, same columns and types), without that second read.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numba import njit

from iotnotice.settings import Settings
from iotnotice.stats.aggregates import AGGREGATE_KINDS, aggregates_path, remove_aggregates

__all__ = ["IngestAggregator"]

_DAY = 86400
_SOURCES = pa.schema(
    [
        ("day", pa.int64()),
        ("src_ip", pa.uint32()),
        ("src_ip6", pa.binary()),
        ("packets", pa.int64()),
        ("mirai", pa.int64()),
    ]
)
_PORTS = pa.schema(
    [
        ("day", pa.int64()),
        ("protocol", pa.uint8()),
        ("dst_port", pa.uint16()),
        ("packets", pa.int64()),
        ("flows", pa.int64()),
    ]
)
_KEYS = {"sources": ["day", "src_ip", "src_ip6"], "ports": ["day", "protocol", "dst_port"]}
_SUMS = {"sources": ["packets", "mirai"], "ports": ["packets", "flows"]}


@njit(cache=True, nogil=True)
def _runs(src: np.ndarray, packets: np.ndarray, mirai: np.ndarray) -> tuple:
    """Per run of equal (sorted) sources: source, packet sum, Mirai sum."""
    n = len(src)
    out_src = np.empty(n, dtype=np.uint32)
    out_pk = np.empty(n, dtype=np.int64)
    out_mi = np.empty(n, dtype=np.int64)
    g = -1
    for i in range(n):
        if g < 0 or src[i] != out_src[g]:
            g += 1
            out_src[g] = src[i]
            out_pk[g] = 0
            out_mi[g] = 0
        out_pk[g] += packets[i]
        out_mi[g] += mirai[i]
    return out_src[: g + 1], out_pk[: g + 1], out_mi[: g + 1]


@njit(cache=True, nogil=True)
def _ports(protocol: np.ndarray, port: np.ndarray, packets: np.ndarray) -> tuple:
    """Per (protocol, port): protocol, port, packet sum, row count (an open-addressing table)."""
    n = len(port)
    size = 1024
    while size < 2 * n and size < (1 << 25):
        size *= 2
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    pk = np.zeros(n, dtype=np.int64)
    rows = np.zeros(n, dtype=np.int64)
    g = 0
    for i in range(n):
        key = (np.int64(protocol[i]) << 16) | np.int64(port[i])
        slot = ((key * 0x9E3779B1) >> 7) & mask
        while True:
            gid = table[slot]
            if gid < 0:
                table[slot] = g
                keys[g] = key
                gid = g
                g += 1
                break
            if keys[gid] == key:
                break
            slot = (slot + 1) & mask
        pk[gid] += packets[i]
        rows[gid] += 1
    return (
        (keys[:g] >> 16).astype(np.uint8),
        (keys[:g] & 0xFFFF).astype(np.uint16),
        pk[:g],
        rows[:g],
    )


def _general(table: pa.Table, day: pa.Array) -> dict[str, pa.Table]:
    """Both partial aggregates of any flow rows (several days, IPv6 sources), via Arrow."""
    rows = pa.table(
        {
            "day": day,
            "src_ip": table.column("src_ip"),
            "src_ip6": table.column("src_ip6").cast(pa.binary()),
            "packets": table.column("packet_cnt").cast(pa.int64()),
            "mirai": table.column("mirai_cnt").cast(pa.int64()),
            "protocol": table.column("protocol"),
            "dst_port": table.column("dst_port"),
            "flows": pa.array(np.ones(table.num_rows, dtype=np.int64)),
        }
    )
    return {kind: _reduce([rows], kind) for kind in AGGREGATE_KINDS}


def _reduce(parts: list[pa.Table], kind: str) -> pa.Table:
    """Sum partial aggregates (same keys may repeat across parts) into one row per key."""
    schema = _SOURCES if kind == "sources" else _PORTS
    whole = pa.concat_tables([p.select(schema.names) for p in parts])
    out = whole.group_by(_KEYS[kind], use_threads=False).aggregate(
        [(name, "sum") for name in _SUMS[kind]]
    )
    out = out.rename_columns([n.removesuffix("_sum") for n in out.column_names])
    return out.select(schema.names).cast(schema)


def _partial(table: pa.Table) -> dict[str, pa.Table]:
    """Both partial aggregates of one part of a flow file."""
    time = table.column("time").to_numpy()
    day = time // _DAY
    if len(day) == 0:
        return {}
    first = int(day[0])
    if (
        int(day.min()) != first
        or int(day.max()) != first
        or table.column("src_ip6").null_count != (table.num_rows)
    ):
        return _general(table, pa.array(day))
    # The common case (the writer passes one hour of IPv4 rows, sorted by source): one pass each.
    src = table.column("src_ip").to_numpy()
    packets = table.column("packet_cnt").to_numpy()
    mirai = table.column("mirai_cnt").to_numpy()
    if len(src) > 1 and bool((src[1:] < src[:-1]).any()):
        order = np.argsort(src, kind="stable")
        src, packets, mirai = src[order], packets[order], mirai[order]
    s_src, s_pk, s_mi = _runs(src, packets, mirai)
    proto, port, p_pk, p_rows = _ports(
        table.column("protocol").to_numpy(), table.column("dst_port").to_numpy(), packets
    )
    sources = pa.table(
        [
            pa.array(np.full(len(s_src), first, dtype=np.int64)),
            pa.array(s_src),
            pa.nulls(len(s_src), pa.binary()),
            pa.array(s_pk),
            pa.array(s_mi),
        ],
        schema=_SOURCES,
    )
    ports = pa.table(
        [
            pa.array(np.full(len(port), first, dtype=np.int64)),
            pa.array(proto),
            pa.array(port),
            pa.array(p_pk),
            pa.array(p_rows),
        ],
        schema=_PORTS,
    )
    return {"sources": sources, "ports": ports}


class IngestAggregator:
    """Aggregates an ingest's flow files part by part and stages them until commit."""

    def __init__(self, settings: Settings, sensor: str, staging: Path) -> None:
        self.root = aggregates_path(settings)
        self.settings = settings
        self.sensor = sensor
        self.staging = staging
        self._parts: dict[str, dict[str, list[pa.Table]]] = {}
        self._staged: list[Path] = []

    def add(self, stem: str, table: pa.Table) -> None:
        """Fold one part of flow file ``stem`` (FLOW_TUPLE columns) into its aggregates."""
        parts = self._parts.setdefault(stem, {kind: [] for kind in AGGREGATE_KINDS})
        for kind, part in _partial(table).items():
            parts[kind].append(part)

    def close(self, stem: str) -> None:
        """Flow file ``stem`` is complete: stage its daily aggregate files."""
        parts = self._parts.pop(stem, None)
        if parts is None:
            return
        for kind in AGGREGATE_KINDS:
            if not parts[kind]:
                continue
            result = _reduce(parts[kind], kind)
            days = result.column("day").to_numpy()
            for day in np.unique(days):
                date = datetime.fromtimestamp(int(day) * _DAY, UTC).strftime("%Y-%m-%d")
                part = result.filter(pc.equal(result.column("day"), day)).drop_columns("day")
                rel = Path(kind) / f"sensor={self.sensor}" / f"date={date}" / f"{stem}.parquet"
                (self.staging / rel).parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(part, self.staging / rel, compression="zstd")
                self._staged.append(rel)

    def install(self, ingest_id: str) -> int:
        """Replace the aggregates of earlier runs of ``ingest_id`` with the staged ones; files."""
        for stem in list(self._parts):
            self.close(stem)
        remove_aggregates(self.settings, f"{ingest_id}-*")
        for rel in self._staged:
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / rel, target)
        installed = len(self._staged)
        self._staged.clear()
        shutil.rmtree(self.staging, ignore_errors=True)
        return installed
