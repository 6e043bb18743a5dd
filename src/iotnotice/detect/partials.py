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
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from iotnotice.settings import Settings

__all__ = ["KINDS", "PartialSet", "partials_for_window"]

# Bump when a partial's columns or meaning change: old caches are then ignored and removed.
_VERSION = 2
KINDS = ("sig", "ports", "resp", "dsts")

# Packet classes per flow row, as documented in features.py.
_IS_RESP = """(protocol = 6 AND ((tcp_flags & 18) = 18 OR (tcp_flags & 4) = 4))
    OR (protocol = 1 AND src_port IN (0, 3, 4, 5, 11, 12))
    OR (protocol = 58 AND src_port IN (1, 2, 3, 4, 129))
    OR (protocol = 17 AND src_port = 53)"""
_IS_IOT = """protocol = 6 AND (tcp_flags & 18) = 2 AND tcp_synlen = 20
    AND ttl BETWEEN 33 AND 64 AND {iot_test}"""

_ROWS = """SELECT src_ip, src_ip6, dst_ip, dst_ip6, src_port, dst_port, protocol, ttl, tcp_flags,
    tcp_synlen, tcp_synwinlen, time, packet_cnt, mirai_cnt, masscan_cnt, zmap_cnt, spoofed_cnt,
    quirk_cnt, {is_resp} AS is_resp, {is_iot} AS is_iot
FROM {source} WHERE time >= $since AND time < $until"""

_PARTIAL_SQL = {
    "sig": """SELECT src_ip, src_ip6,
    (((ttl::BIGINT * 256 + protocol) * 256 + tcp_flags) * 256 + tcp_synlen) * 65536
        + tcp_synwinlen AS sig,
    sum(packet_cnt)::BIGINT AS n, count(*)::BIGINT AS r, min(time) AS t0, max(time) AS t1,
    sum(mirai_cnt)::BIGINT AS mirai, sum(masscan_cnt)::BIGINT AS masscan,
    sum(zmap_cnt)::BIGINT AS zmap, sum(spoofed_cnt)::BIGINT AS spoofed,
    sum(quirk_cnt)::BIGINT AS quirk,
    coalesce(sum(packet_cnt) FILTER (WHERE is_resp), 0)::BIGINT AS resp,
    coalesce(sum(packet_cnt) FILTER (WHERE is_iot), 0)::BIGINT AS iot,
    max(packet_cnt::BIGINT * 65536 + (65535 - src_port)) AS sp_key,
    max(packet_cnt::BIGINT * 65536 + (65535 - dst_port)) AS dp_key
FROM pf GROUP BY src_ip, src_ip6, sig ORDER BY src_ip, src_ip6, sig""",
    "ports": """SELECT src_ip, src_ip6, protocol::INTEGER * 65536 + dst_port AS label,
    sum(packet_cnt)::BIGINT AS n, sum(mirai_cnt)::BIGINT AS m
FROM pf WHERE protocol IN (6, 17) AND NOT is_resp GROUP BY src_ip, src_ip6, label
ORDER BY src_ip, src_ip6, label""",
    "resp": """SELECT src_ip, src_ip6, time, sum(packet_cnt)::BIGINT AS n
FROM pf WHERE is_resp GROUP BY src_ip, src_ip6, time ORDER BY src_ip, src_ip6, time""",
    "dsts": """SELECT src_ip, src_ip6, dst_ip, dst_ip6,
    (max(mirai_cnt) > 0)::UTINYINT + 2 * bool_or(is_iot AND packet_cnt > 0)::UTINYINT AS fl
FROM pf GROUP BY src_ip, src_ip6, dst_ip, dst_ip6 ORDER BY src_ip, dst_ip""",
}
_COPY_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 1000000"


@dataclass(frozen=True)
class _FlowFile:
    path: Path
    start: int  # epoch second of its hour
    key: str  # names its partials: relative path, size and modification time


@dataclass
class PartialSet:
    """Partial files of one window, per kind; ``computed`` files were built by this call."""

    files: dict[str, list[Path]]
    flow_files: int
    computed: int
    scratch: Path | None = None

    def close(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


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


def _compute(
    con: duckdb.DuckDBPyConnection,
    source: str,
    rows_sql: str,
    window: dict[str, int],
    out: dict[str, Path],
) -> None:
    """Partials of the flow rows of ``source`` in ``window`` into one Parquet file per kind."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE pf AS {rows_sql.format(source=source)}", window)
    try:
        for kind in KINDS:
            target = out[kind]
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            escaped = str(tmp).replace("'", "''")
            con.execute(f"COPY ({_PARTIAL_SQL[kind]}) TO '{escaped}' ({_COPY_OPTIONS})")
            os.replace(tmp, target)  # atomic: a concurrent run sees the old or the new file
    finally:
        con.execute("DROP TABLE IF EXISTS pf")


def _rows_sql(iot_ports: Iterable[int]) -> str:
    # Ports are parsed integers, so inlining them is safe; an inline IN list beats
    # list_contains() over a parameter per row.
    ports = [str(int(p)) for p in iot_ports]
    iot_test = f"dst_port IN ({', '.join(ports)})" if ports else "false"
    return _ROWS.format(
        is_resp=_IS_RESP, is_iot=_IS_IOT.format(iot_test=iot_test), source="{source}"
    )


def partials_for_window(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    iot_ports: list[int],
    since: int | None,
    until: int | None,
) -> PartialSet:
    """The partial files covering the flow rows with ``since <= time < until``.

    Builds the missing partials of whole hours in the cache (and prunes stale ones), and those
    of hours the window cuts in a scratch directory that ``PartialSet.close`` removes.
    """
    lo = -(2**62) if since is None else int(since)
    hi = 2**62 if until is None else int(until)
    cache = _cache_dir(settings, iot_ports)
    rows_sql = _rows_sql(iot_ports)
    files: dict[str, list[Path]] = {k: [] for k in KINDS}
    result = PartialSet(files, 0, 0)
    flow_files = _flow_files(settings)
    _prune(settings, cache, flow_files)
    for ff in flow_files:
        end = ff.start + 3600
        if end <= lo or ff.start >= hi:
            continue
        result.flow_files += 1
        escaped = str(ff.path).replace("'", "''")
        source = f"read_parquet('{escaped}')"
        if lo <= ff.start and end <= hi:
            out = {k: cache / f"{ff.key}.{k}.parquet" for k in KINDS}
            if not all(p.exists() for p in out.values()):
                _compute(con, source, rows_sql, {"since": lo, "until": hi}, out)
                result.computed += 1
        else:
            out = _scratch_files(settings, result, str(result.flow_files))
            _compute(con, source, rows_sql, {"since": lo, "until": hi}, out)
        for k in KINDS:
            files[k].append(out[k])
    if result.flow_files == 0:
        # Nothing in the window: empty partials of the (possibly empty) ``flows`` view, so the
        # merge query still sees typed relations.
        out = _scratch_files(settings, result, "empty")
        _compute(con, "flows", rows_sql, {"since": lo, "until": hi}, out)
        for k in KINDS:
            files[k].append(out[k])
    return result


def _scratch_files(settings: Settings, result: PartialSet, name: str) -> dict[str, Path]:
    if result.scratch is None:
        (settings.data_path / "tmp").mkdir(parents=True, exist_ok=True)
        result.scratch = Path(tempfile.mkdtemp(prefix="detect-", dir=settings.data_path / "tmp"))
    return {k: result.scratch / f"{name}.{k}.parquet" for k in KINDS}


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
