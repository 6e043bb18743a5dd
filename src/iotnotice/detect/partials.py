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
  2 = a bot-like IoT SYN): exact distinct counts across files need them.

``dsts``, and ``ports`` of sources that scan many ports, grow with the flow rows; the others
are a few rows per source and file. This module keeps the cache: a detection window uses the
cached partials of the files whose hour it covers whole — for a date it covers whole, the
date's rollup (detect.rollups) — and computes (without caching) those of the files of an hour
it cuts; detect.family builds partials from flow rows, detect.partfiles
stores and reads them, detect.merge merges them. A partial file is named
after its flow file's size and modification time, so a re-ingested file gets new partials;
partials of files that are gone are removed. The cache key includes the settings the partials
depend on (``iot_ports``), so changing them never mixes old and new.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from iotnotice.detect import rollups
from iotnotice.detect.family import COLUMNS, EMPTY_FLOWS, build_partials, combine_tables
from iotnotice.detect.merge import KINDS
from iotnotice.detect.partfiles import PartialSet, readable, store
from iotnotice.errors import InputError
from iotnotice.settings import Settings

__all__ = ["KINDS", "PartialSet", "partials_for_window"]

# Bump when a partial's columns or meaning change: old caches are then ignored and removed.
_VERSION = 5
# Flow rows per build batch (~0.3 GB at the build's peak).
_BATCH = 1 << 20
# Files of a whole date read beside its rollup (or without one) before a new rollup is built.
_MAX_EXTRA = 4


@dataclass(frozen=True)
class _FlowFile:
    path: Path
    start: int  # epoch second of its hour
    key: str  # names its partials: relative path, size and modification time
    date: str  # its date folder's (UTC) date, YYYY-MM-DD


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
        out.append(_FlowFile(path, start, f"{rel}-{st.st_size}-{st.st_mtime_ns}", day))
    return out


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
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH, columns=COLUMNS):
        table = pa.Table.from_batches([batch])
        if not whole:
            times = table.column("time")
            table = table.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))
        for kind, part in build_partials(table, iot_ports).items():
            pieces[kind].append(part)
    if not pieces["sig"]:
        return build_partials(EMPTY_FLOWS, iot_ports)
    return {
        k: parts[0] if len(parts) == 1 else combine_tables(k, parts) for k, parts in pieces.items()
    }


def partials_for_window(
    settings: Settings, iot_ports: list[int], since: int | None, until: int | None, threads: int = 1
) -> PartialSet:
    """The partials covering the flow rows with ``since <= time < until``.

    Whole hours come from the cache (built where missing; stale partials are pruned), whole
    dates of more than one flow file from their rollup (detect.rollups; built where missing);
    hours the window cuts are computed in memory for this call only.
    """
    lo = -(2**62) if since is None else int(since)
    hi = 2**62 if until is None else int(until)
    cache = _cache_dir(settings, iot_ports)
    result = PartialSet({k: [] for k in KINDS}, {k: [] for k in KINDS})
    flow_files = _flow_files(settings)
    _prune(settings, cache, flow_files)
    days = _whole_days(flow_files, lo, hi)
    todo: list[tuple[_FlowFile, dict[str, Path] | None]] = []
    for ff in flow_files:
        end = ff.start + 3600
        if end <= lo or ff.start >= hi:
            continue
        result.flow_files += 1
        if lo <= ff.start and end <= hi:
            out = _cached(cache, ff)
            if ff.date not in days:
                for k in KINDS:
                    result.files[k].append([out[k]])
            if not all(readable(p) for p in out.values()):
                todo.append((ff, out))
        else:
            todo.append((ff, None))  # an hour the window cuts: in memory, for this call

    def build(item: tuple[_FlowFile, dict[str, Path] | None]) -> dict[str, pa.Table] | None:
        ff, out = item
        parts = _build_file(ff.path, iot_ports, lo, hi)
        if out is None:
            return parts
        store(parts, out)
        return None

    # The kernels, the Parquet reader and writer release the GIL: files build in parallel.
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for parts in pool.map(build, todo):
            if parts is None:
                result.computed += 1
            else:
                for k, table in parts.items():
                    result.tables[k].append(table)
    for date, members in days.items():
        chains, rolled = _rollup(cache / "rollups", date, members, cache, threads)
        for k in KINDS:
            result.files[k].extend(chains[k])
        result.rolled_up += rolled
    return result


def _cached(cache: Path, ff: _FlowFile) -> dict[str, Path]:
    return {k: cache / f"{ff.key}.{k}.arrow" for k in KINDS}


def _whole_days(flow_files: list[_FlowFile], lo: int, hi: int) -> dict[str, list[_FlowFile]]:
    """The dates the window covers whole that have more than one flow file."""
    by_date: dict[str, list[_FlowFile]] = {}
    for ff in flow_files:
        by_date.setdefault(ff.date, []).append(ff)
    days = {}
    for date, members in by_date.items():
        start = int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp())
        if len(members) > 1 and lo <= start and start + 86400 <= hi:
            days[date] = members
    return days


def _rollup(
    root: Path, date: str, members: list[_FlowFile], cache: Path, threads: int
) -> tuple[dict[str, list[list[Path]]], int]:
    """The chains a whole date is read from, and how many of its files a rollup covers: its
    rollup; or the rollup of the files it had before and the partials of up to
    ``_MAX_EXTRA`` files added since (an hourly run on the current day rebuilds nothing);
    or, with more than that, a new rollup merged from those."""
    keys = [ff.key for ff in members]
    chains = rollups.find(root, date, keys)
    if chains is not None:
        return {k: [chain] for k, chain in chains.items()}, len(members)
    inputs: dict[str, list[list[Path]]] = {k: [] for k in KINDS}
    previous = rollups.base(root, date, keys)
    if previous is not None:
        for k in KINDS:
            inputs[k].append(previous[0][k])
    extra = [ff for ff in members if previous is None or ff.key not in previous[1]]
    for ff in extra:
        out = _cached(cache, ff)
        for k in KINDS:
            inputs[k].append([out[k]])
    if len(extra) <= _MAX_EXTRA:
        return inputs, len(members) - len(extra)
    built = rollups.build(root, date, keys, PartialSet(inputs, {k: [] for k in KINDS}), threads)
    return {k: [chain] for k, chain in built.items()}, len(members)


def _prune(settings: Settings, cache: Path, flow_files: list[_FlowFile]) -> None:
    """Remove partials of flow files that are gone or changed, and caches of other versions."""
    root = settings.data_path / "detect-partials"
    if root.is_dir():
        for other in root.iterdir():
            if other != cache:
                shutil.rmtree(other, ignore_errors=True)
    if not cache.is_dir():
        return
    rollups.prune(cache / "rollups", {ff.key for ff in flow_files})
    wanted = {f"{ff.key}.{k}.arrow" for ff in flow_files for k in KINDS}
    for path in cache.glob("sensor=*/date=*/hour=*/*.arrow"):
        if str(path.relative_to(cache)) not in wanted:
            path.unlink(missing_ok=True)
    # Temporary files of a run that died while writing (a live run's are minutes old at most).
    for path in cache.glob("sensor=*/date=*/hour=*/.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > 3600:
                path.unlink()
