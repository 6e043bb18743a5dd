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

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq

from iotnotice.detect.merge import combine, row_partials
from iotnotice.errors import InputError
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings

__all__ = ["KINDS", "PartialSet", "partials_for_window"]

# Bump when a partial's columns or meaning change: old caches are then ignored and removed.
_VERSION = 5
KINDS = ("sig", "ports", "resp", "dsts")

# Flow-tuple columns the partials are made of.
_COLUMNS = [
    "src_ip", "src_ip6", "dst_ip", "dst_ip6", "src_port", "dst_port", "protocol", "ttl",
    "tcp_flags", "tcp_synlen", "tcp_synwinlen", "time", "packet_cnt", "mirai_cnt",
    "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt",
]  # fmt: skip
_IP6 = pa.binary(16)
# Flow rows per build batch (~0.3 GB at the build's peak).
_BATCH = 1 << 20
# Rows per record batch of a partial file, the unit a pass reads: every file of the window
# keeps one batch's remainder between passes, so small batches keep memory down (64K-row
# batches held ~0.6 GB of Arrow memory over the 100 partial files of the 100M benchmark).
_GROUP = 1 << 13
# Partial files a window keeps open at once (at most; see PartialSet.passes).
_MAX_OPEN = 512
# Schema metadata key of a partial file: [[lowest src_ip, highest src_ip, rows], ...] per batch.
_BOUNDS = b"iotnotice.batches"
# Stored narrower than merged (see _narrow).
_U32 = pa.uint32()
_NARROW = {
    c: _U32
    for c in ("n", "r", "m", "t0", "t1", "mirai", "masscan", "zmap", "spoofed", "quirk", "resp",
              "iot", "time")
} | {"label": pa.int32()}  # fmt: skip
_EMPTY_FLOWS = arrow_schema(FLOW_TUPLE).empty_table().select(_COLUMNS)


@dataclass(frozen=True)
class _FlowFile:
    path: Path
    start: int  # epoch second of its hour
    key: str  # names its partials: relative path, size and modification time


@dataclass(frozen=True)
class _Group:
    """One record batch of a partial file and the range of its sources."""

    path: Path
    index: int
    low: int
    high: int
    rows: int


def _groups(path: Path) -> list[_Group]:
    """The batches of a partial file, from the bounds ``_store`` wrote into its schema."""
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
    bounds = json.loads((schema.metadata or {}).get(_BOUNDS, b"[]"))
    return [_Group(path, i, lo, hi, n) for i, (lo, hi, n) in enumerate(bounds)]


@dataclass
class PartialSet:
    """A window's partials per kind: cached files, and in-memory tables of the hours it cuts."""

    files: dict[str, list[Path]]
    tables: dict[str, list[pa.Table]]
    flow_files: int = 0
    computed: int = 0  # partial sets this call built for the cache
    _index: dict[str, list[_Group]] = field(default_factory=dict)

    def groups(self, kind: str) -> list[_Group]:
        """Every row group of the kind's files (footers parsed once per window)."""
        if kind not in self._index:
            self._index[kind] = [g for p in self.files[kind] for g in _groups(p)]
        return self._index[kind]

    def passes(self, max_rows: int) -> Iterator[dict[str, pa.Table]]:
        """The window's partial rows per kind, in passes of consecutive source ranges of
        about ``max_rows`` rows (IPv6 sources, which carry ``src_ip`` 0, in the first).

        Every file is sorted by ``src_ip``, so each is read once, row group by row group, as
        the passes advance: memory holds a pass and one row group per file, never the window.
        """
        files = {kind: self._by_file(kind) for kind in KINDS}
        # Each file stays open while it is read (its footer parsed once), unless the window
        # has so many that they could exhaust the file descriptors; then each batch reopens
        # its file. Plain reads, not maps: mapped pages would count in the process's memory.
        keep_open = sum(len(f) for f in files.values()) <= _MAX_OPEN
        streams = {
            kind: [_Stream(t) for t in self.tables[kind]]
            + [_Stream(None, groups, keep_open) for groups in files[kind]]
            for kind in KINDS
        }
        # Typed as stored, so that pieces of the usual types concatenate without a copy;
        # others (a counter kept wide, IPv6 columns, in-memory partials) are promoted.
        empty = {k: _narrow(t) for k, t in build_partials(_EMPTY_FLOWS, []).items()}
        for _lo, hi in self.ranges(max_rows):
            taken = {kind: [s.take(hi) for s in streams[kind]] for kind in KINDS}
            yield {
                kind: pa.concat_tables(
                    [empty[kind], *(t for t in tables if t is not None)],
                    promote_options="permissive",
                )
                for kind, tables in taken.items()
            }

    def _by_file(self, kind: str) -> list[list[_Group]]:
        files: dict[Path, list[_Group]] = {}
        for g in self.groups(kind):
            files.setdefault(g.path, []).append(g)
        return list(files.values())

    def ranges(self, max_rows: int) -> list[tuple[int, int]]:
        """Source-address ranges splitting the window's partial rows into passes of about
        ``max_rows`` rows, so that the merge's memory stays bounded whatever the window.

        Cut from the row groups' statistics (no data read): each row group counts at its
        lowest source, which is close enough for sizing passes.
        """
        low = [g.low for k in KINDS for g in self.groups(k)]
        rows = [g.rows for k in KINDS for g in self.groups(k)]
        for tables in self.tables.values():
            for t in tables:
                if t.num_rows:
                    low.append(int(pc.min(t.column("src_ip")).as_py()))
                    rows.append(t.num_rows)
        total = sum(rows)
        passes = -(-total // max(max_rows, 1))
        if passes <= 1:
            return [(0, 2**32)]
        order = np.argsort(low, kind="stable")
        at = np.searchsorted(
            np.cumsum(np.asarray(rows)[order]), total * np.arange(1, passes) / passes
        )
        cuts = sorted({int(np.asarray(low)[order][i]) for i in at if i < len(order)} - {0})
        edges = [0, *cuts, 2**32]
        return list(itertools.pairwise(edges))


class _Stream:
    """One partial file's (or table's) rows, sorted by ``src_ip``, taken in order."""

    def __init__(
        self, table: pa.Table | None, groups: list[_Group] | None = None, keep_open: bool = False
    ) -> None:
        self.pending = list(groups or [])
        self.rows: pa.Table | None = table
        self.src = table.column("src_ip").to_numpy() if table is not None else None
        self.keep_open = keep_open
        self.reader: pa.ipc.RecordBatchFileReader | None = None

    def _batch(self, g: _Group) -> pa.RecordBatch:
        if not self.keep_open:  # opened per batch: a window of thousands of files holds none
            with pa.memory_map(str(g.path)) as source:
                return pa.ipc.open_file(source).get_batch(g.index)
        if self.reader is None:
            self.reader = pa.ipc.open_file(pa.OSFile(str(g.path)))
        batch = self.reader.get_batch(g.index)
        if not self.pending:
            self.reader = None  # the last batch: let the file (and its descriptor) go
        return batch

    def take(self, hi: int) -> pa.Table | None:
        """The next rows with ``src_ip < hi`` (reading row groups as far as needed)."""
        out = []
        while True:
            if self.rows is None or self.rows.num_rows == 0:
                if not self.pending:
                    break
                self.rows = pa.Table.from_batches([self._batch(self.pending.pop(0))])
                self.src = self.rows.column("src_ip").to_numpy()
            assert self.src is not None
            k = int(np.searchsorted(self.src, hi))
            if k == 0:
                break
            out.append(self.rows.slice(0, k))
            self.rows, self.src = self.rows.slice(k), self.src[k:]
            if len(self.src):
                break
        return pa.concat_tables(out) if out else None


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
    return universe, _ids(values, universe)


def _ids(values: list[bytes | None], universe: list[bytes | None]) -> np.ndarray:
    index = {v: i for i, v in enumerate(universe)}
    return np.array([index[v] for v in values], dtype=np.uint64)


def family_rows(table: pa.Table, v6: bool) -> pa.Table:
    """The rows of ``table`` with an IPv6 (``v6``) or an IPv4 source."""
    if "src_ip6" not in table.column_names:  # stored without IPv6 sources
        return table.slice(0, 0) if v6 else table
    nulls = table.column("src_ip6").null_count
    if nulls in (0, table.num_rows):  # one family only (IPv4: the usual case): no copy
        return table if (nulls == 0) == v6 else table.slice(0, 0)
    valid = pc.is_valid(table.column("src_ip6"))
    return table.filter(valid if v6 else pc.invert(valid))


@dataclass
class Family:
    """One family's rows as numpy columns, addresses as uint64 ids (``src``, ``dst``): IPv4
    addresses themselves, IPv6 ones as ranks in ``srcs`` / ``dsts`` (ids sort as addresses)."""

    cols: dict[str, np.ndarray]
    v6: bool
    srcs: list[bytes | None] | None = None
    dsts: list[bytes | None] | None = None

    @classmethod
    def of(cls, table: pa.Table, v6: bool, srcs: list[bytes | None] | None = None) -> Family:
        """``table``'s rows (all of the family) with ids; ``srcs``: a given IPv6 universe."""
        cols = {c: table.column(c).to_numpy() for c in table.column_names if "_ip" not in c}
        fam = cls(cols, v6)
        has_dst = "dst_ip" in table.column_names
        if v6:
            # (A table stored without IPv6 columns has no IPv6 rows: the lists are empty.)
            src6 = table.column("src_ip6").to_pylist() if table.num_rows else []
            if srcs is None:
                fam.srcs, cols["src"] = _ranks(src6)
            else:
                fam.srcs, cols["src"] = srcs, _ids(src6, srcs)
            if has_dst:
                dst6 = table.column("dst_ip6").to_pylist() if table.num_rows else []
                fam.dsts, cols["dst"] = _ranks(dst6)
        else:
            cols["src"] = table.column("src_ip").to_numpy().astype(np.uint64)
            if has_dst:
                cols["dst"] = table.column("dst_ip").to_numpy().astype(np.uint64)
        return fam

    def table(self, merged: dict[str, np.ndarray]) -> pa.Table:
        """Partial rows with ids (as ``combine`` gives them) back to a table with addresses."""
        merged = dict(merged)
        out: dict[str, pa.Array] = {}
        for end, universe in (("src", self.srcs), ("dst", self.dsts)):
            if end not in merged:
                continue
            ids = merged.pop(end)
            if self.v6:
                out[f"{end}_ip"] = pa.array(np.zeros(len(ids), dtype=np.uint32))
                assert universe is not None
                out[f"{end}_ip6"] = pa.array([universe[i] for i in ids.tolist()], type=_IP6)
            else:
                out[f"{end}_ip"] = pa.array(ids.astype(np.uint32))
                out[f"{end}_ip6"] = pa.nulls(len(ids), _IP6)
        out.update({name: pa.array(values) for name, values in merged.items()})
        return pa.table(out)


def build_partials(table: pa.Table, iot_ports: list[int]) -> dict[str, pa.Table]:
    """The partials of flow rows (``_COLUMNS``, any order): per kind a table sorted by key,
    IPv6 sources first (as ranks in the file), then IPv4."""
    pieces: dict[str, list[pa.Table]] = {k: [] for k in KINDS}
    for v6 in (True, False):
        rows = family_rows(table, v6)
        if rows.num_rows == 0 and v6:
            continue  # (an empty IPv4 part still gives every kind its typed columns)
        fam = Family.of(rows, v6)
        for kind, cols in row_partials(fam.cols, iot_ports).items():
            pieces[kind].append(fam.table(combine(kind, cols, runs=True)))
    return {kind: pa.concat_tables(parts) for kind, parts in pieces.items()}


def combine_tables(kind: str, tables: list[pa.Table]) -> pa.Table:
    """Partial tables of one kind merged into one (sorted by key, IPv6 sources first)."""
    table = pa.concat_tables(tables)
    pieces = []
    for v6 in (True, False):
        rows = family_rows(table, v6)
        if rows.num_rows == 0 and v6:
            continue
        fam = Family.of(rows, v6)
        pieces.append(fam.table(combine(kind, fam.cols)))
    return pa.concat_tables(pieces)


def _build_file(path: Path, iot_ports: list[int], lo: int, hi: int) -> dict[str, pa.Table]:
    """The partials of one flow file's rows with ``lo <= time < hi``, built batch by batch
    (memory bounded by a batch, whatever the file) and merged."""
    try:
        return _build_batches(path, iot_ports, lo, hi)
    except (OSError, pa.ArrowException) as exc:  # a damaged or vanished store file
        raise InputError(path, f"cannot read this flow file ({exc})") from None


def _build_batches(path: Path, iot_ports: list[int], lo: int, hi: int) -> dict[str, pa.Table]:
    pieces: dict[str, list[pa.Table]] = {k: [] for k in KINDS}
    whole = lo <= -(2**62) and hi >= 2**62
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH, columns=_COLUMNS):
        table = pa.Table.from_batches([batch])
        if not whole:
            times = table.column("time")
            table = table.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))
        for kind, part in build_partials(table, iot_ports).items():
            pieces[kind].append(part)
    if not pieces["sig"]:
        return build_partials(_EMPTY_FLOWS, iot_ports)
    return {
        k: parts[0] if len(parts) == 1 else combine_tables(k, parts) for k, parts in pieces.items()
    }


def _narrow(table: pa.Table) -> pa.Table:
    """``table`` as stored: counters and times as uint32 where every value fits (a partial
    covers one hour of one file), IPv6 columns dropped when empty. The merge widens again."""
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in _NARROW:
            with contextlib.suppress(pa.ArrowInvalid):  # out of range: kept wide
                column = column.cast(_NARROW[name])
        if name.endswith("_ip6") and column.null_count == len(column):
            continue
        columns.append(column)
        names.append(name)
    return pa.table(columns, names=names)


def _store(parts: dict[str, pa.Table], out: dict[str, Path]) -> None:
    """Write partials as Arrow IPC files (LZ4) of sorted batches, each batch's source range in
    the schema metadata: a cache read on every detection run, so it maps and decompresses
    instead of decoding Parquet (1.6x faster on the benchmark's partials, same size)."""
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    for kind, part in parts.items():
        target = out[kind]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        table = _narrow(part)
        batches = table.to_batches(max_chunksize=_GROUP)
        bounds = [
            [int(b.column(0)[0].as_py()), int(b.column(0)[-1].as_py()), b.num_rows]
            for b in batches
            if b.num_rows
        ]
        schema = table.schema.with_metadata({_BOUNDS: json.dumps(bounds)})
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as w:
            for batch in batches:
                if batch.num_rows:
                    w.write_batch(batch)
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
            out = {k: cache / f"{ff.key}.{k}.arrow" for k in KINDS}
            for k in KINDS:
                result.files[k].append(out[k])
            if not all(_readable(p) for p in out.values()):
                todo.append((ff, out))
        else:
            todo.append((ff, None))  # an hour the window cuts: in memory, for this call

    def build(item: tuple[_FlowFile, dict[str, Path] | None]) -> dict[str, pa.Table] | None:
        ff, out = item
        parts = _build_file(ff.path, iot_ports, lo, hi)
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


def _readable(path: Path) -> bool:
    """Whether a cached partial exists and its footer reads; a damaged one is removed (it is
    rebuilt, the cache heals itself)."""
    if not path.exists():
        return False
    try:
        _groups(path)
    except (OSError, pa.ArrowException, ValueError):
        path.unlink(missing_ok=True)
        return False
    return True


def _prune(settings: Settings, cache: Path, flow_files: list[_FlowFile]) -> None:
    """Remove partials of flow files that are gone or changed, and caches of other versions."""
    root = settings.data_path / "detect-partials"
    if root.is_dir():
        for other in root.iterdir():
            if other != cache:
                shutil.rmtree(other, ignore_errors=True)
    if not cache.is_dir():
        return
    wanted = {f"{ff.key}.{k}.arrow" for ff in flow_files for k in KINDS}
    for path in cache.glob("sensor=*/date=*/hour=*/*.arrow"):
        if str(path.relative_to(cache)) not in wanted:
            path.unlink(missing_ok=True)
    # Temporary files of a run that died while writing (a live run's are minutes old at most).
    for path in cache.glob("sensor=*/date=*/hour=*/.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > 3600:
                path.unlink()
