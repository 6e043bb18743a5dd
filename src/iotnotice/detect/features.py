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

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.detect.merge import merge_features
from iotnotice.detect.partials import KINDS, partials_for_window
from iotnotice.settings import Settings

__all__ = ["Features", "compute_features", "features_from_table", "parse_ports"]


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


def parse_ports(text: str) -> list[int]:
    """'23,2323, 7547' -> [23, 2323, 7547]."""
    return [int(p) for p in str(text).replace(" ", "").split(",") if p]


def compute_features(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    monitored_addresses: int,
    since: int | None = None,
    until: int | None = None,
) -> Features:
    """Per-source features of the flow rows in [since, until) (epoch seconds): the partial
    aggregates of the window's flow files (built where the cache lacks them, see
    detect.partials) merged per source (detect.merge)."""
    threads = int(settings.detect_threads)
    parts = partials_for_window(settings, parse_ports(settings.iot_ports), since, until, threads)
    tables = {kind: parts.read(kind) for kind in KINDS}
    families = [_family(tables, True, threads), _family(tables, False, threads)]
    cols = {
        name: np.concatenate([f[name] for f in families if f]) if any(families) else np.zeros(0)
        for name in _COLUMNS
    }
    if not any(families):
        cols = {name: _EMPTY.get(name, np.zeros(0, dtype=np.int64)) for name in _COLUMNS}
    if monitored_addresses <= 0:
        # No sensor inventory: the distinct destinations seen are a lower bound of the darknet.
        monitored_addresses = len(pc.unique(tables["dsts"].column("dst_ip")))
    _derive(cols, int(settings.flow_interval), monitored_addresses)
    return Features(cols, monitored_addresses, int(settings.flow_interval))


# Feature columns in the order the evidence lists them.
_COLUMNS = (
    "src_ip", "src_ip6", "packets", "flow_rows", "first_seen", "last_seen", "mirai_cnt",
    "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt", "syn_pkts", "syn_noopt",
    "resp_pkts", "synack_pkts", "rst_pkts", "icmp_err_pkts", "dns_resp_pkts", "tcp_pkts",
    "udp_pkts", "icmp_pkts", "iot_syn", "sample", "destinations", "mirai_dsts", "iot_dsts",
    "ttl_mode", "dst_ports", "top_ports", "mirai_ports", "resp_window_max",
)  # fmt: skip
_EMPTY = {
    "src_ip": np.zeros(0, dtype=np.uint32),
    "src_ip6": np.zeros(0, dtype=object),
    "sample": np.zeros(0, dtype=object),
    "top_ports": np.zeros(0, dtype=object),
    "mirai_ports": np.zeros(0, dtype=object),
    "ttl_mode": np.zeros(0, dtype=np.int32),
}


def _ids(values: list[bytes], universe: list[bytes]) -> np.ndarray:
    index = {v: i for i, v in enumerate(universe)}
    return np.array([index[v] for v in values], dtype=np.uint64)


def _family(tables: dict[str, pa.Table], v6: bool, threads: int) -> dict[str, np.ndarray] | None:
    """Feature columns of the IPv6 or the IPv4 sources, sorted by address (None: no source)."""
    picked = {}
    for kind, table in tables.items():
        nulls = table.column("src_ip6").null_count
        if nulls in (0, table.num_rows):  # one family only (IPv4: the usual case): no copy
            picked[kind] = table if (nulls == 0) == v6 else table.slice(0, 0)
        else:
            valid = pc.is_valid(table.column("src_ip6"))
            picked[kind] = table.filter(valid if v6 else pc.invert(valid))
    if picked["sig"].num_rows == 0:
        return None
    arrays = {
        kind: {
            name: table.column(name).to_numpy()
            for name in table.column_names
            if name not in ("src_ip", "src_ip6", "dst_ip", "dst_ip6")
        }
        for kind, table in picked.items()
    }
    if v6:
        # IPv6 sources as ranks among the window's IPv6 sources: ids sort as addresses do.
        universe = sorted(set(picked["sig"].column("src_ip6").to_pylist()))
        for kind, table in picked.items():
            arrays[kind]["src"] = _ids(table.column("src_ip6").to_pylist(), universe)
        dst6 = picked["dsts"].column("dst_ip6").to_pylist()
        arrays["dsts"]["dst"] = _ids(dst6, sorted(set(dst6), key=lambda b: b or b""))
    else:
        for kind, table in picked.items():
            arrays[kind]["src"] = table.column("src_ip").to_numpy().astype(np.uint64)
        arrays["dsts"]["dst"] = picked["dsts"].column("dst_ip").to_numpy().astype(np.uint64)
    out = merge_features(arrays, threads)
    src = out.pop("src")
    if v6:
        out["src_ip"] = np.zeros(len(src), dtype=np.uint32)
        out["src_ip6"] = np.array([universe[int(i)] for i in src], dtype=object)
    else:
        out["src_ip"] = src.astype(np.uint32)
        out["src_ip6"] = np.full(len(src), None, dtype=object)
    sig = out.pop("sample_sig")
    fields = (
        out.pop("sample_dst_port"),
        out.pop("sample_src_port"),
        (sig >> 32) & 255,
        (sig >> 40) & 255,
        (sig >> 24) & 255,
        (sig >> 16) & 255,
        sig & 65535,
    )
    names = ("dst_port", "src_port", "protocol", "ttl", "tcp_flags", "tcp_synlen")
    out["sample"] = np.array(
        [
            dict(zip((*names, "tcp_synwinlen"), row, strict=True))
            for row in zip(*(f.tolist() for f in fields), strict=True)
        ],
        dtype=object,
    )
    return out


def features_from_table(table: pa.Table, interval: int, monitored_addresses: int) -> Features:
    """Features from a table of the feature query's columns, plus the derived columns."""
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if name in ("src_ip6", "sample", "top_ports", "mirai_ports"):
            cols[name] = np.array(col.to_pylist(), dtype=object)
        else:
            cols[name] = col.to_numpy(zero_copy_only=False)
    _derive(cols, interval, monitored_addresses)
    return Features(cols, monitored_addresses, interval)


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
