"""Write flow tuples as a hive-partitioned Parquet dataset, atomically per ingested file.

Layout: ``<flows>/sensor=<name>/date=YYYY-MM-DD/hour=HH/<ingest-id>-<n>.parquet``. Files are
streamed under ``<data>/tmp/`` and renamed into place only when the whole input file is done;
stale files of an interrupted earlier run of the same ingest id are removed first, so a crash
leaves nothing partial behind and a re-run never doubles rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FlowWriter", "PartObserver", "write_flow_file"]

# Rows per file and per row group: large groups compress best and DuckDB scans them in parallel.
ROWS_PER_FILE = 4_000_000
ROW_GROUP_ROWS = 1_000_000
# Encodings chosen by measuring each column of the 10M-packet benchmark's flow table (9.6M
# rows; CPU ns per row and bytes per row, each column written alone, zstd level 1):
# - Parquet stores the 8- and 16-bit columns as INT32, so their plain pages are half or more
#   zero bytes that zstd spends its time finding. BYTE_STREAM_SPLIT writes each byte of the
#   values as its own stream: the zero streams cost zstd next to nothing, the rest compresses
#   byte-wise (dst_ip, a /24's addresses: 19 ns / 1.20 B plain -> 7.6 ns / 0.92 B split;
#   ports 13-19 ns -> 9-13 ns; the counters and small fields 6-10 ns -> ~5 ns).
# - A dictionary only for time (the minutes of the hour: 13 ns / 0.66 B, plain is 33 ns / 1.24
#   B); for ports, windows and the small fields the dictionary's hashing costs more than it
#   saves.
# - Plain for the sorted sources and the SYN windows (split is no faster there and larger).
# Whole table (benchmarks/ingest.py's flows, as ingest writes them): 1.50-2.05 -> 0.95-1.05
# CPU s and 5.52 -> 5.35 bytes per packet. LZ4 for the split columns would save another
# ~0.1 s at 6.0 bytes per packet; the store stays zstd throughout.
_SPLIT = (
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "ttl",
    "tcp_flags",
    "ip_len",
    "tcp_synlen",
    "packet_cnt",
    "mirai_cnt",
    "masscan_cnt",
    "zmap_cnt",
    "spoofed_cnt",
    "quirk_cnt",
)

_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["time"],
    "column_encoding": {
        **dict.fromkeys(_SPLIT, "BYTE_STREAM_SPLIT"),
        "src_ip": "PLAIN",
        "tcp_synwinlen": "PLAIN",
    },
    "write_statistics": ["time", "src_ip", "dst_ip", "dst_port", "protocol"],
}


def write_flow_file(table: pa.Table, path: Path) -> None:
    """One Parquet file of flow tuples (in the order aggregate() gave them), zstd-compressed."""
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, **_OPTIONS)


class PartObserver(Protocol):
    """Sees every part written to a flow file (by its stem), each file's end, and the commit."""

    def prepare(self, table: pa.Table) -> Any: ...

    def add(self, stem: str, table: pa.Table, prepared: Any) -> None: ...

    def close(self, stem: str) -> None: ...

    def install(self, ingest_id: str) -> int: ...


@dataclass
class _OpenFile:
    writer: pq.ParquetWriter
    tmp: Path
    final: Path
    rows: int = 0


class FlowWriter:
    """Streams one input file's flow tuples into per-hour files; commits them all at once.

    Each chunk's rows go straight into the open file of their hour as row groups, so memory
    holds no more than the chunk being written, whatever the length of the capture.
    """

    def __init__(self, flows_path: Path, tmp_root: Path, sensor: str, ingest_id: str) -> None:
        self.sensor_dir = flows_path / f"sensor={sensor}"
        self.tmp = tmp_root / f"ingest-{sensor}-{ingest_id}"
        self.ingest_id = ingest_id
        self._open: dict[int, _OpenFile] = {}
        self._written: list[tuple[Path, Path]] = []
        self.rows = 0
        # Daily statistics aggregates, fed from the rows in memory (see stats.ingestagg).
        self.observer: PartObserver | None = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)

    def split(self, table: pa.Table) -> list[tuple[int, pa.Table, Any]]:
        """``table`` cut into hours: (hour, rows, what the observer prepared from them).

        Touches no state of the writer, so another thread can run it for the next chunk while
        this one writes (ingest does: the observer's work then leaves the writing thread).
        """
        if table.num_rows == 0:
            return []
        # (numba, imported here: write_flow_file's users need not load the kernels)
        from iotnotice.store.flows import hour_cuts

        time = table.column("time").to_numpy()
        ordered, cuts = hour_cuts(time)
        if not ordered:
            # aggregate() orders rows by hour; only tables from elsewhere need sorting here.
            order = np.argsort(time // 3600, kind="stable")
            table, time = table.take(pa.array(order)), time[order]
            ordered, cuts = hour_cuts(time)
        bounds = np.r_[0, cuts, len(time)]
        parts = []
        for lo, hi in itertools.pairwise(bounds):
            part = table.slice(lo, hi - lo) if len(cuts) else table
            prepared = self.observer.prepare(part) if self.observer is not None else None
            parts.append((int(time[lo]) // 3600, part, prepared))
        return parts

    def add_parts(self, parts: list[tuple[int, pa.Table, Any]]) -> None:
        """Write the hour parts ``split`` made, in order."""
        if not parts:
            return
        for hour, part, prepared in parts:
            self.rows += part.num_rows
            self._write(hour, part, prepared)
        # Captures run forward in time: an hour before the newest one is finished.
        latest = parts[-1][0]
        for hour in [h for h in self._open if h < latest]:
            self._close(hour)

    def _write(self, hour: int, part: pa.Table, prepared: Any) -> None:
        f = self._open.get(hour)
        if f is None:
            moment = datetime.fromtimestamp(hour * 3600, UTC)
            rel = Path(f"date={moment:%Y-%m-%d}") / f"hour={moment:%H}"
            name = f"{self.ingest_id}-{len(self._written) + len(self._open)}.parquet"
            (self.tmp / rel).mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(self.tmp / rel / name, part.schema, **_OPTIONS)
            f = self._open[hour] = _OpenFile(
                writer, self.tmp / rel / name, self.sensor_dir / rel / name
            )
        f.writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
        f.rows += part.num_rows
        if self.observer is not None:
            self.observer.add(f.final.stem, part, prepared)
        if f.rows >= ROWS_PER_FILE:
            self._close(hour)

    def _close(self, hour: int) -> None:
        f = self._open.pop(hour)
        f.writer.close()
        self._written.append((f.tmp, f.final))
        if self.observer is not None:
            self.observer.close(f.final.stem)

    def commit(self) -> list[Path]:
        """Finish every open file, then move them all into the dataset."""
        for hour in sorted(self._open):
            self._close(hour)
        self.remove_previous()
        for src, dst in self._written:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        if self.observer is not None:
            self.observer.install(self.ingest_id)
        self.abort()
        return [dst for _, dst in self._written]

    def remove_previous(self) -> None:
        """Delete files an interrupted earlier run of this ingest id left in the dataset."""
        for old in self.sensor_dir.glob(f"date=*/hour=*/{self.ingest_id}-*.parquet"):
            old.unlink()

    def abort(self) -> None:
        """Drop everything not yet committed."""
        for f in self._open.values():
            with suppress(OSError, pa.ArrowException):
                f.writer.close()
        self._open.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)
