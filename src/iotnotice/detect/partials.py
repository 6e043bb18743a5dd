"""Partial aggregates per flow file: what detection merges instead of rescanning the store.

Every per-source feature is a sum, minimum, maximum or distinct count, so it decomposes over
the store's files: for each committed flow file, four small tables are computed once and kept
under ``<data>/detect-partials/`` —

- ``sig``: per source and header signature (TTL, protocol, flags, SYN length, window): packets,
  rows, first/last interval, fingerprint and response/IoT packet sums, and the busiest row's
  ports packed as ``packets * 65536 + (65535 - port)`` (a max that merges exactly);
- ``ports``: per source and (protocol, port) of non-response TCP/UDP: packets, Mirai packets;
- ``resp``: per source and flow interval: response packets;
- ``dsts``: the distinct (source, destination) pairs with two flag bits (1 = a Mirai SYN,
  2 = a bot-like IoT SYN). Only these are nearly as many as the flow rows: exact distinct
  counts across files need them.

Each file is sorted by its key, so the merge (detect.merge) merges sorted runs. A detection
window uses the cached partials of the files whose hour it covers whole, and
computes (without caching) those of the files of an hour it cuts. A partial file is named
after its flow file's size and modification time, so a re-ingested file gets new partials;
partials of files that are gone are removed. The cache key includes the settings the partials
depend on (``iot_ports``), so changing them never mixes old and new.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from iotnotice.detect.merge import combine, row_partials
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings

__all__ = ["KINDS", "PartialSet", "partials_for_window"]

# Bump when a partial's columns or meaning change: old caches are then ignored and removed.
_VERSION = 2
KINDS = ("sig", "ports", "resp", "dsts")

# Flow-tuple columns the partials are made of.
_COLUMNS = [
    "src_ip", "src_ip6", "dst_ip", "dst_ip6", "src_port", "dst_port", "protocol", "ttl",
    "tcp_flags", "tcp_synlen", "tcp_synwinlen", "time", "packet_cnt", "mirai_cnt",
    "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt",
]  # fmt: skip
_IP6 = pa.binary(16)
_EMPTY_FLOWS = arrow_schema(FLOW_TUPLE).empty_table().select(_COLUMNS)


@dataclass(frozen=True)
class _FlowFile:
    path: Path
    start: int  # epoch second of its hour
    key: str  # names its partials: relative path, size and modification time


@dataclass
class PartialSet:
    """A window's partials per kind: cached files, and in-memory tables of the hours it cuts."""

    files: dict[str, list[Path]]
    tables: dict[str, list[pa.Table]]
    flow_files: int = 0
    computed: int = 0  # partial sets this call built for the cache

    def read(self, kind: str) -> pa.Table:
        """Every partial row of ``kind`` (typed, possibly empty)."""
        tables = list(self.tables[kind])
        if self.files[kind]:
            tables.insert(0, ds.dataset([str(p) for p in self.files[kind]]).to_table())
        if not tables:
            tables.append(build_partials(_EMPTY_FLOWS, [])[kind])
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _cache_dir(settings: Settings, iot_ports: list[int]) -> Path:
    digest = hashlib.sha256(f"{_VERSION}|{sorted(iot_ports)}".encode()).hexdigest()[:12]
    return settings.data_path / "detect-partials" / f"v{_VERSION}-{digest}"


def _flow_files(settings: Settings) -> list[_FlowFile]:
    root = settings.flows_path
    out = []
    for path in sorted(root.glob("sensor=*/date=*/hour=*/*.parquet")):
        try:
            day = path.parent.parent.name.removeprefix("date=")
            hour = int(path.parent.name.removeprefix("hour="))
            start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + hour * 3600
            st = path.stat()
        except (ValueError, OSError):
            continue  # not a committed flow file of the layout (or gone meanwhile)
        rel = path.relative_to(root).with_suffix("")
        out.append(_FlowFile(path, start, f"{rel}-{st.st_size}-{st.st_mtime_ns}"))
    return out


def _ranks(values: list[bytes | None]) -> tuple[list[bytes | None], np.ndarray]:
    """(sorted distinct values, each value's rank): uint64 ids that sort as the bytes do."""
    universe = sorted(set(values), key=lambda b: b or b"")
    index = {v: i for i, v in enumerate(universe)}
    return universe, np.array([index[v] for v in values], dtype=np.uint64)


def build_partials(table: pa.Table, iot_ports: list[int]) -> dict[str, pa.Table]:
    """The partials of flow rows (``_COLUMNS``, any order): per kind a table sorted by key,
    IPv6 sources first (as ranks in the file), then IPv4."""
    pieces: dict[str, list[pa.Table]] = {k: [] for k in KINDS}
    valid = pc.is_valid(table.column("src_ip6"))
    nulls = table.column("src_ip6").null_count
    for v6 in (True, False):
        if nulls in (0, table.num_rows):  # one family only (IPv4: the usual case): no copy
            rows_t = table if (nulls == 0) == v6 else table.slice(0, 0)
        else:
            rows_t = table.filter(valid if v6 else pc.invert(valid))
        if rows_t.num_rows == 0 and v6:
            continue  # (an empty IPv4 part still gives every kind its typed columns)
        rows = {c: rows_t.column(c).to_numpy() for c in _COLUMNS if not c.endswith("ip6")}
        if v6:
            srcs, rows["src"] = _ranks(rows_t.column("src_ip6").to_pylist())
            dsts, rows["dst"] = _ranks(rows_t.column("dst_ip6").to_pylist())
        else:
            rows["src"] = rows["src_ip"].astype(np.uint64)
            rows["dst"] = rows["dst_ip"].astype(np.uint64)
        for kind, cols in row_partials(rows, iot_ports).items():
            merged = combine(kind, cols, runs=True)
            src = merged.pop("src")
            out: dict[str, pa.Array] = {}
            if v6:
                out["src_ip"] = pa.array(np.zeros(len(src), dtype=np.uint32))
                out["src_ip6"] = pa.array([srcs[i] for i in src.tolist()], type=_IP6)
            else:
                out["src_ip"] = pa.array(src.astype(np.uint32))
                out["src_ip6"] = pa.nulls(len(src), _IP6)
            if kind == "dsts":
                dst = merged.pop("dst")
                if v6:
                    out["dst_ip"] = pa.array(np.zeros(len(dst), dtype=np.uint32))
                    out["dst_ip6"] = pa.array([dsts[i] for i in dst.tolist()], type=_IP6)
                else:
                    out["dst_ip"] = pa.array(dst.astype(np.uint32))
                    out["dst_ip6"] = pa.nulls(len(dst), _IP6)
            out.update({name: pa.array(values) for name, values in merged.items()})
            pieces[kind].append(pa.table(out))
    return {kind: pa.concat_tables(parts) for kind, parts in pieces.items()}


def _read(path: Path, lo: int, hi: int) -> pa.Table:
    table = pq.read_table(path, columns=_COLUMNS)
    if lo > -(2**62) or hi < 2**62:
        time = table.column("time")
        table = table.filter(pc.and_(pc.greater_equal(time, lo), pc.less(time, hi)))
    return table


def _store(parts: dict[str, pa.Table], out: dict[str, Path]) -> None:
    for kind, part in parts.items():
        target = out[kind]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(part, tmp, compression="zstd", compression_level=1)
        os.replace(tmp, target)  # atomic: a concurrent run sees the old or the new file


def partials_for_window(
    settings: Settings, iot_ports: list[int], since: int | None, until: int | None, threads: int = 1
) -> PartialSet:
    """The partials covering the flow rows with ``since <= time < until``.

    Whole hours come from the cache (built where missing; stale partials are pruned); hours
    the window cuts are computed in memory for this call only.
    """
    lo = -(2**62) if since is None else int(since)
    hi = 2**62 if until is None else int(until)
    cache = _cache_dir(settings, iot_ports)
    result = PartialSet({k: [] for k in KINDS}, {k: [] for k in KINDS})
    flow_files = _flow_files(settings)
    _prune(settings, cache, flow_files)
    todo: list[tuple[_FlowFile, dict[str, Path] | None]] = []
    for ff in flow_files:
        end = ff.start + 3600
        if end <= lo or ff.start >= hi:
            continue
        result.flow_files += 1
        if lo <= ff.start and end <= hi:
            out = {k: cache / f"{ff.key}.{k}.parquet" for k in KINDS}
            for k in KINDS:
                result.files[k].append(out[k])
            if not all(p.exists() for p in out.values()):
                todo.append((ff, out))
        else:
            todo.append((ff, None))  # an hour the window cuts: in memory, for this call

    def build(item: tuple[_FlowFile, dict[str, Path] | None]) -> dict[str, pa.Table] | None:
        ff, out = item
        parts = build_partials(_read(ff.path, lo, hi), iot_ports)
        if out is None:
            return parts
        _store(parts, out)
        return None

    # The kernels, the Parquet reader and writer release the GIL: files build in parallel.
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for parts in pool.map(build, todo):
            if parts is None:
                result.computed += 1
            else:
                for k, table in parts.items():
                    result.tables[k].append(table)
    return result


def _prune(settings: Settings, cache: Path, flow_files: list[_FlowFile]) -> None:
    """Remove partials of flow files that are gone or changed, and caches of other versions."""
    root = settings.data_path / "detect-partials"
    if root.is_dir():
        for other in root.iterdir():
            if other != cache:
                shutil.rmtree(other, ignore_errors=True)
    if not cache.is_dir():
        return
    wanted = {f"{ff.key}.{k}.parquet" for ff in flow_files for k in KINDS}
    for path in cache.glob("sensor=*/date=*/hour=*/*.parquet"):
        if str(path.relative_to(cache)) not in wanted:
            path.unlink(missing_ok=True)
