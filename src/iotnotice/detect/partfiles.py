"""The partial files: their format (Arrow IPC) and reading a window's files in passes.

A partial file holds one kind's rows sorted by ``src_ip`` (IPv6 sources, which carry 0,
first) in record batches of :data:`_GROUP` rows, LZ4-compressed, with every batch's source
range in the schema metadata; counters are stored as uint32 where they fit. A cache read on
every detection run: mapping and decompressing IPC is faster than decoding Parquet.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

from iotnotice.detect.family import EMPTY_FLOWS, build_partials
from iotnotice.detect.merge import KINDS

__all__ = ["PartialSet", "readable", "store"]

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
    """A window's partials per kind: cached files, and in-memory tables of the hours it cuts.

    ``files[kind]`` lists chains: files read one after the other as one sorted stream (a
    flow file's partial is a chain of one file; a day's rollup, written pass by pass, a chain
    of files of consecutive source ranges, see detect.rollups).
    """

    files: dict[str, list[list[Path]]]
    tables: dict[str, list[pa.Table]]
    flow_files: int = 0
    computed: int = 0  # partial sets this call built for the cache
    rolled_up: int = 0  # flow files whose partials came from a day's rollup
    _index: dict[str, list[list[_Group]]] = field(default_factory=dict)

    def streams(self, kind: str) -> list[list[_Group]]:
        """Every chain's row groups, in reading order (footers parsed once per window)."""
        if kind not in self._index:
            self._index[kind] = [
                [g for p in chain for g in _groups(p)] for chain in self.files[kind]
            ]
        return self._index[kind]

    def groups(self, kind: str) -> list[_Group]:
        """Every row group of the kind's files."""
        return [g for chain in self.streams(kind) for g in chain]

    def passes(self, max_rows: int) -> Iterator[dict[str, pa.Table]]:
        """The window's partial rows per kind, in passes of consecutive source ranges of
        about ``max_rows`` rows (IPv6 sources, which carry ``src_ip`` 0, in the first).

        Every chain is sorted by ``src_ip``, so each file is read once, row group by row
        group, as the passes advance: memory holds a pass and one row group per chain, never
        the window.
        """
        chains = {kind: self.streams(kind) for kind in KINDS}
        # Each file stays open while it is read (its footer parsed once), unless the window
        # has so many that they could exhaust the file descriptors; then each batch reopens
        # its file. Plain reads, not maps: mapped pages would count in the process's memory.
        keep_open = sum(len(c) for c in chains.values()) <= _MAX_OPEN
        streams = {
            kind: [_Stream(t) for t in self.tables[kind]]
            + [_Stream(None, groups, keep_open) for groups in chains[kind]]
            for kind in KINDS
        }
        # Typed as stored, so that pieces of the usual types concatenate without a copy;
        # others (a counter kept wide, IPv6 columns, in-memory partials) are promoted.
        empty = {k: _narrow(t) for k, t in build_partials(EMPTY_FLOWS, []).items()}
        for _lo, hi in self.ranges(max_rows):
            taken = {kind: [s.take(hi) for s in streams[kind]] for kind in KINDS}
            yield {
                kind: pa.concat_tables(
                    [empty[kind], *(t for t in tables if t is not None)],
                    promote_options="permissive",
                )
                for kind, tables in taken.items()
            }

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
    """One chain's (or table's) rows, sorted by ``src_ip``, taken in order."""

    def __init__(
        self, table: pa.Table | None, groups: list[_Group] | None = None, keep_open: bool = False
    ) -> None:
        self.pending = list(groups or [])
        self.rows: pa.Table | None = table
        self.src = table.column("src_ip").to_numpy() if table is not None else None
        self.keep_open = keep_open
        self.reader: pa.ipc.RecordBatchFileReader | None = None
        self.path: Path | None = None

    def _batch(self, g: _Group) -> pa.RecordBatch:
        if not self.keep_open:  # opened per batch: a window of thousands of files holds none
            with pa.memory_map(str(g.path)) as source:
                return pa.ipc.open_file(source).get_batch(g.index)
        if self.reader is None or self.path != g.path:  # (a chain's next file)
            self.reader, self.path = pa.ipc.open_file(pa.OSFile(str(g.path))), g.path
        batch = self.reader.get_batch(g.index)
        if not self.pending or self.pending[0].path != g.path:
            self.reader = None  # the file's last batch: let it (and its descriptor) go
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
        # (a chain's files may store a column in different types: promoted)
        return pa.concat_tables(out, promote_options="permissive") if out else None


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


def store(parts: dict[str, pa.Table], out: dict[str, Path]) -> None:
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


def readable(path: Path) -> bool:
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
