"""Per-source behaviour over a time window, merged from per-file partial aggregates.

How: each flow file of the store gets partial aggregates once (detect.partials, DuckDB SQL
over the file); a window's features merge the partials of its files (detect.merge, numpy over
sorted 64-bit keys), so a detection run reads a fraction of the store's rows and scans again
only the files of an hour the window cuts. The tests hold the result equal to a plain SQL
reference over the flow rows (tests/detect/test_fast_path.py).

One row per source address (IPv4 ``src_ip`` or IPv6 ``src_ip6``) with the counters the rules
read. Packet classes are decided per flow-tuple row from its TCP flags / ICMP type:

- *syn*: TCP with SYN and without ACK (a connection attempt, what scanners and bots send);
- *response*: SYN-ACK, RST, ICMP echo reply or error (types 0, 3, 4, 5, 11, 12; ICMPv6 1-4, 129)
  and UDP from port 53 (DNS responses) — corsaro's backscatter packet types.

TTL: the most common received TTL (by packets) gives the inferred initial TTL (the next of
32/64/128/255 at or above it) and the hop distance. The global scan rate follows Merit's
darknet-events: packets x 2^32 / monitored addresses / active seconds.

Ties are broken so that a store always gives the same features: the TTL mode is the smallest of
the most common TTLs; the sample is the most common header signature, smallest (ttl, protocol,
flags, SYN length, window) first, with the ports of its busiest row (smallest port first); top
ports are ordered by packets, then protocol (tcp before udp) and port number.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.detect.family import Family, family_rows
from iotnotice.detect.merge import merge_features
from iotnotice.detect.partials import partials_for_window
from iotnotice.detect.pipeline import MapAhead
from iotnotice.settings import Settings

__all__ = [
    "SAMPLE_FIELDS",
    "Features",
    "compute_features",
    "concat_features",
    "feature_chunks",
    "parse_ports",
    "prepare_partials",
]


@dataclass(frozen=True)
class Features:
    """Per-source feature columns (numpy arrays, one element per source)."""

    columns: dict[str, np.ndarray]
    monitored_addresses: int
    flow_interval: int

    def __len__(self) -> int:
        return len(self.columns["packets"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @classmethod
    def derived(cls, cols: dict[str, np.ndarray], interval: int, monitored: int) -> Features:
        """Features of merged per-source columns, plus the columns derived from them."""
        _derive(cols, interval, monitored)
        return cls(cols, monitored, interval)


def parse_ports(text: str) -> list[int]:
    """'23,2323, 7547' -> [23, 2323, 7547]."""
    return [int(p) for p in str(text).replace(" ", "").split(",") if p]


def compute_features(
    settings: Settings,
    monitored_addresses: int,
    since: int | None = None,
    until: int | None = None,
) -> Features:
    """Per-source features of the flow rows in [since, until) (epoch seconds): the partial
    aggregates of the window's flow files (built where the cache lacks them, see
    detect.partials) merged per source (detect.merge)."""
    return concat_features(list(feature_chunks(settings, monitored_addresses, since, until)))


def prepare_partials(settings: Settings) -> int:
    """Build the cached partials (and day rollups) that a detection over the whole store
    reads, so that the next run only merges; how many flow files' partials were built.
    ``ingest --watch`` calls it after each file it stores."""
    threads = int(settings.detect_threads)
    ports = parse_ports(settings.iot_ports)
    return partials_for_window(settings, ports, None, None, threads).computed


def feature_chunks(
    settings: Settings,
    monitored_addresses: int,
    since: int | None = None,
    until: int | None = None,
) -> Generator[Features, None, None]:
    """:func:`compute_features` in chunks of consecutive sources (IPv6 first, then IPv4 by
    address), each as soon as it is merged: a caller can classify and store one chunk while
    the next is merged. Without a sensor inventory (``monitored_addresses`` <= 0) the scan
    rates need every destination seen, so the window comes as one chunk.

    The window's partials are found (built where missing) and the merge started by this call,
    so the caller can prepare while the first chunk is merged; iterate the result to its end
    or close it (closed unstarted, it drops the merge, whose reader then stops)."""
    threads = int(settings.detect_threads)
    parts = partials_for_window(settings, parse_ports(settings.iot_ports), since, until, threads)
    seen_dsts = monitored_addresses <= 0

    def one_pass(tables: dict[str, pa.Table]) -> tuple[list[dict[str, np.ndarray]], Any]:
        done = [f for f in (_family(tables, v6, 1) for v6 in (True, False)) if f]
        seen = pc.unique(tables["dsts"].column("dst_ip")).to_numpy() if seen_dsts else None
        return done, seen

    # Passes over consecutive source ranges: memory holds the passes in flight, not the
    # window. A reader thread reads the next passes and a pool merges them while the caller
    # works on the last chunk (the reader and the kernels mostly release the GIL).
    ahead = MapAhead(one_pass, parts.passes(_PASS_ROWS), threads)
    return _chunks(ahead, int(settings.flow_interval), monitored_addresses)


def _chunks(
    ahead: MapAhead[tuple[list[dict[str, np.ndarray]], Any]], interval: int, monitored: int
) -> Generator[Features, None, None]:
    pieces: list[dict[str, np.ndarray]] = []
    seen: list[np.ndarray] = []
    chunks = 0
    try:
        for done, dsts in ahead:
            if dsts is not None:  # (no sensor inventory: gather the whole window)
                pieces.extend(done)
                seen.append(dsts)
            elif done:
                chunks += 1
                yield Features.derived(_concat(done), interval, monitored)
    finally:
        ahead.close()
    if monitored <= 0:
        # No sensor inventory: the distinct destinations seen are a lower bound of the darknet.
        seen_count = len(np.unique(np.concatenate(seen))) if seen else 0
        yield Features.derived(_concat(pieces), interval, seen_count)
    elif chunks == 0:  # an empty window: one empty chunk
        yield Features.derived(_concat([]), interval, monitored)


def concat_features(chunks: list[Features]) -> Features:
    """One Features of consecutive chunks (at least one)."""
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    cols = {name: np.concatenate([c.columns[name] for c in chunks]) for name in first.columns}
    return Features(cols, first.monitored_addresses, first.flow_interval)


def _concat(pieces: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if pieces:
        return {name: np.concatenate([p[name] for p in pieces]) for name in _COLUMNS}
    return {name: _EMPTY.get(name, np.zeros(0, dtype=np.int64)) for name in _COLUMNS}


# The header sample's fields, each a feature column "sample_<field>".
SAMPLE_FIELDS = (
    "dst_port", "src_port", "protocol", "ttl", "tcp_flags", "tcp_synlen", "tcp_synwinlen",
)  # fmt: skip
# Partial rows merged per pass (the merge's peak is a few hundred bytes per row; with two
# passes at once, ~1M rows keeps detection under 1 GB).
_PASS_ROWS = 1_000_000
# Feature columns in the order the evidence lists them.
_COLUMNS = (
    "src_ip", "src_ip6", "packets", "flow_rows", "first_seen", "last_seen", "mirai_cnt",
    "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt", "syn_pkts", "syn_noopt",
    "resp_pkts", "synack_pkts", "rst_pkts", "icmp_err_pkts", "dns_resp_pkts", "tcp_pkts",
    "udp_pkts", "icmp_pkts", "iot_syn", *(f"sample_{k}" for k in SAMPLE_FIELDS),
    "destinations", "mirai_dsts", "iot_dsts", "ttl_mode", "dst_ports", "top_ports",
    "mirai_ports", "resp_window_max",
)  # fmt: skip
_EMPTY = {
    "src_ip": np.zeros(0, dtype=np.uint32),
    "src_ip6": np.zeros(0, dtype=object),
    "top_ports": np.zeros(0, dtype=object),
    "mirai_ports": np.zeros(0, dtype=object),
    "ttl_mode": np.zeros(0, dtype=np.int32),
}


def _family(tables: dict[str, pa.Table], v6: bool, threads: int) -> dict[str, np.ndarray] | None:
    """Feature columns of the IPv6 or the IPv4 sources, sorted by address (None: no source)."""
    picked = {kind: family_rows(table, v6) for kind, table in tables.items()}
    if picked["sig"].num_rows == 0:
        return None
    # Every source has signature rows: their IPv6 universe gives every kind the same ids.
    first = Family.of(picked["sig"], v6)
    universe = first.srcs
    arrays = {kind: Family.of(t, v6, universe).cols for kind, t in picked.items() if kind != "sig"}
    arrays["sig"] = first.cols
    out = merge_features(arrays, threads)
    src = out.pop("src")
    if v6:
        out["src_ip"] = np.zeros(len(src), dtype=np.uint32)
        assert universe is not None
        out["src_ip6"] = np.array([universe[int(i)] for i in src], dtype=object)
    else:
        out["src_ip"] = src.astype(np.uint32)
        out["src_ip6"] = np.full(len(src), None, dtype=object)
    # The header sample as integer columns (SAMPLE_FIELDS), not a dict per source.
    sig = out.pop("sample_sig")
    for name, shift, mask in (
        ("protocol", 32, 255), ("ttl", 40, 255), ("tcp_flags", 24, 255),
        ("tcp_synlen", 16, 255), ("tcp_synwinlen", 0, 65535),
    ):  # fmt: skip
        out[f"sample_{name}"] = (sig >> shift) & mask
    return out


def _derive(cols: dict[str, np.ndarray], interval: int, monitored: int) -> None:
    ttl = cols["ttl_mode"].astype(np.int64)
    initial = np.select([ttl <= 32, ttl <= 64, ttl <= 128], [32, 64, 128], 255)
    cols["initial_ttl"] = initial
    cols["hops"] = initial - ttl
    active = (cols["last_seen"] - cols["first_seen"]).astype(np.int64) + interval
    cols["active_seconds"] = active
    packets = cols["packets"].astype(np.float64)
    cols["scan_rate"] = packets * 2.0**32 / max(monitored, 1) / np.maximum(active, 1)
    syn = np.maximum(cols["syn_pkts"], 1)
    cols["syn_noopt_share"] = cols["syn_noopt"] / syn
    cols["resp_share"] = cols["resp_pkts"] / np.maximum(cols["packets"], 1)
