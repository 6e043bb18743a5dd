"""Per-source behaviour over a time window, computed in DuckDB SQL over the ``flows`` view.

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
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from iotnotice.settings import Settings

__all__ = ["Features", "compute_features", "feature_sql", "features_from_table", "parse_ports"]

# Layout of the query, chosen by measurement (benchmarks/detect.py; EXPLAIN ANALYZE):
# - IPv4 and IPv6 sources are aggregated separately, so the IPv4 part (nearly all rows) groups by
#   integer keys only (a GROUP BY source, destination with the nullable BLOB columns in the key
#   took 1.3x as long, and the joins on them IS NOT DISTINCT FROM more).
# - Per-source counters are summed from one GROUP BY (source, header signature) rather than from
#   a GROUP BY (source, destination) with a dozen FILTER aggregates: the signature groups are
#   few, so the counters, the TTL mode and the sample signature all come from one small table.
#   The signature is packed into one BIGINT key (ttl, protocol, flags, SYN length, window).
# - Distinct destinations (and those with Mirai / IoT SYNs) come from a GROUP BY (source,
#   destination) with two max() flags; with COUNT(DISTINCT ...) DuckDB materialised the input
#   for its distinct rewrite (3 of 19 CPU seconds at 20M rows).
# - Port labels stay integers (protocol * 65536 + port) until the per-source top lists are made.
# - The CTE ``f`` is deliberately not materialised: re-scanning Parquet (only the columns a pass
#   needs) was faster than holding the window in memory, and keeps memory bounded.
_FAMILY_SQL = """
f AS NOT MATERIALIZED (
    SELECT {src} AS src, {dst} AS dst, dst_port, protocol, ttl, tcp_flags, tcp_synlen,
        tcp_synwinlen, src_port, time, packet_cnt, mirai_cnt, masscan_cnt, zmap_cnt,
        spoofed_cnt, quirk_cnt, is_resp,
        CASE WHEN is_resp THEN packet_cnt ELSE 0 END AS resp_p,
        CASE WHEN protocol = 6 AND (tcp_flags & 18) = 2 AND tcp_synlen = 20
            AND ttl BETWEEN 33 AND 64 AND {iot_test} THEN packet_cnt ELSE 0 END AS iot_p
    FROM (
        SELECT *,
            (protocol = 6 AND ((tcp_flags & 18) = 18 OR (tcp_flags & 4) = 4))
              OR (protocol = 1 AND src_port IN (0, 3, 4, 5, 11, 12))
              OR (protocol = 58 AND src_port IN (1, 2, 3, 4, 129))
              OR (protocol = 17 AND src_port = 53) AS is_resp
        FROM flows WHERE time >= $since AND time < $until AND {where}
    )
),
by_sig AS (
    SELECT src,
        (((ttl::BIGINT * 256 + protocol) * 256 + tcp_flags) * 256 + tcp_synlen) * 65536
            + tcp_synwinlen AS sig,
        sum(packet_cnt) AS n, count(*) AS r, min(time) AS t0, max(time) AS t1,
        sum(mirai_cnt) AS mirai, sum(masscan_cnt) AS masscan, sum(zmap_cnt) AS zmap,
        sum(spoofed_cnt) AS spoofed, sum(quirk_cnt) AS quirk, sum(resp_p) AS resp,
        sum(iot_p) AS iot,
        arg_max(src_port, packet_cnt::BIGINT * 65536 + (65535 - src_port)) AS src_port,
        arg_max(dst_port, packet_cnt::BIGINT * 65536 + (65535 - dst_port)) AS dst_port
    FROM f GROUP BY src, sig
),
sig AS (
    SELECT *, protocol = 6 AND (tcp_flags & 18) = 2 AS is_syn FROM (
        SELECT *,
            (sig // 1099511627776 % 256)::UTINYINT AS ttl,
            (sig // 4294967296 % 256)::UTINYINT AS protocol,
            (sig // 16777216 % 256)::UTINYINT AS tcp_flags,
            (sig // 65536 % 256)::UTINYINT AS tcp_synlen,
            (sig % 65536)::USMALLINT AS tcp_synwinlen
        FROM by_sig
    )
),
per_src AS (
    SELECT src,
        sum(n)::BIGINT AS packets,
        sum(r)::BIGINT AS flow_rows,
        min(t0)::BIGINT AS first_seen,
        max(t1)::BIGINT AS last_seen,
        sum(mirai)::BIGINT AS mirai_cnt,
        sum(masscan)::BIGINT AS masscan_cnt,
        sum(zmap)::BIGINT AS zmap_cnt,
        sum(spoofed)::BIGINT AS spoofed_cnt,
        sum(quirk)::BIGINT AS quirk_cnt,
        coalesce(sum(n) FILTER (WHERE is_syn), 0)::BIGINT AS syn_pkts,
        coalesce(sum(n) FILTER (WHERE is_syn AND tcp_synlen = 20), 0)::BIGINT AS syn_noopt,
        sum(resp)::BIGINT AS resp_pkts,
        coalesce(sum(n) FILTER (WHERE protocol = 6 AND (tcp_flags & 18) = 18), 0)::BIGINT
            AS synack_pkts,
        coalesce(sum(n) FILTER (WHERE protocol = 6 AND (tcp_flags & 4) = 4
            AND (tcp_flags & 18) <> 18), 0)::BIGINT AS rst_pkts,
        coalesce(sum(resp) FILTER (WHERE protocol IN (1, 58)), 0)::BIGINT AS icmp_err_pkts,
        coalesce(sum(resp) FILTER (WHERE protocol = 17), 0)::BIGINT AS dns_resp_pkts,
        coalesce(sum(n) FILTER (WHERE protocol = 6), 0)::BIGINT AS tcp_pkts,
        coalesce(sum(n) FILTER (WHERE protocol = 17), 0)::BIGINT AS udp_pkts,
        coalesce(sum(n) FILTER (WHERE protocol IN (1, 58)), 0)::BIGINT AS icmp_pkts,
        sum(iot)::BIGINT AS iot_syn,
        arg_max({{'dst_port': dst_port, 'src_port': src_port, 'protocol': protocol,
                 'ttl': ttl, 'tcp_flags': tcp_flags, 'tcp_synlen': tcp_synlen,
                 'tcp_synwinlen': tcp_synwinlen}},
                n::HUGEINT * 281474976710656 + (281474976710655 - sig)) AS sample
    FROM sig GROUP BY src
),
ttl_mode AS (
    SELECT src, arg_max(ttl, n::HUGEINT * 256 + (255 - ttl))::INTEGER AS ttl_mode FROM (
        SELECT src, ttl, sum(n) AS n FROM sig GROUP BY src, ttl
    ) GROUP BY src
),
dsts AS (
    SELECT src, count(*)::BIGINT AS destinations,
        count(*) FILTER (WHERE m > 0)::BIGINT AS mirai_dsts,
        count(*) FILTER (WHERE i > 0)::BIGINT AS iot_dsts
    FROM (SELECT src, dst, max(mirai_cnt) AS m, max(iot_p) AS i FROM f GROUP BY src, dst)
    GROUP BY src
),
ports AS (
    SELECT src, count(*)::BIGINT AS dst_ports,
        max_by(label, n::HUGEINT * 2097152 + (2097151 - label), 5) AS top_ports,
        max_by(label, m::HUGEINT * 2097152 + (2097151 - label), 3) FILTER (WHERE m > 0)
            AS mirai_ports
    FROM (
        SELECT src, protocol::INTEGER * 65536 + dst_port AS label,
            sum(packet_cnt) AS n, sum(mirai_cnt) AS m
        FROM f WHERE protocol IN (6, 17) AND NOT is_resp
        GROUP BY src, label
    ) GROUP BY src
),
resp_window AS (
    SELECT src, max(n)::BIGINT AS resp_window_max FROM (
        SELECT src, time, sum(packet_cnt) AS n FROM f WHERE is_resp GROUP BY src, time
    ) GROUP BY src
)
SELECT {src_ip} AS src_ip, {src_ip6} AS src_ip6, p.* EXCLUDE (src),
    d.destinations, d.mirai_dsts, d.iot_dsts, t.ttl_mode,
    coalesce(o.dst_ports, 0)::BIGINT AS dst_ports,
    coalesce(array_to_string(list_transform(o.top_ports, lambda x: {label}), ','), '') AS top_ports,
    coalesce(array_to_string(list_transform(o.mirai_ports, lambda x: {label}), ','), '')
        AS mirai_ports,
    coalesce(w.resp_window_max, 0)::BIGINT AS resp_window_max
FROM per_src p
JOIN ttl_mode t ON t.src = p.src
JOIN dsts d ON d.src = p.src
LEFT JOIN ports o ON o.src = p.src
LEFT JOIN resp_window w ON w.src = p.src
"""
_LABEL = "(x % 65536)::VARCHAR || CASE x // 65536 WHEN 6 THEN '/tcp' ELSE '/udp' END"


def feature_sql(family: int, iot_ports: list[int]) -> str:
    """The feature query for IPv4 (``family`` 4) or IPv6 (6) sources, ordered by source."""
    if family == 4:
        keys = {"src": "src_ip", "dst": "dst_ip", "where": "src_ip6 IS NULL"}
        out = {"src_ip": "p.src", "src_ip6": "NULL::BLOB"}
    else:
        keys = {"src": "src_ip6", "dst": "dst_ip6", "where": "src_ip6 IS NOT NULL"}
        out = {"src_ip": "0::UINTEGER", "src_ip6": "p.src"}
    # Ports are parsed integers, so inlining them is safe; an inline IN list beats
    # list_contains() over a parameter per row.
    iot_test = (
        f"dst_port IN ({', '.join(str(int(p)) for p in iot_ports)})" if iot_ports else "false"
    )
    body = _FAMILY_SQL.format(**keys, **out, iot_test=iot_test, label=_LABEL)
    return f"WITH {body} ORDER BY p.src"


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
    """Run the feature query for sources seen in [since, until) (epoch seconds)."""
    window: dict[str, Any] = {
        "since": -(2**62) if since is None else int(since),
        "until": 2**62 if until is None else int(until),
    }
    ports = parse_ports(settings.iot_ports)
    # One cheap probe (it stops at the first IPv6 row) spares the IPv6 query's four passes over
    # a store without IPv6 traffic. IPv6 sources come first: they carry src_ip 0.
    probe = "SELECT 1 FROM flows WHERE src_ip6 IS NOT NULL AND time >= $since AND time < $until"
    has_v6 = bool(con.execute(probe + " LIMIT 1", window).fetchall())
    table = pa.concat_tables(
        [
            con.sql(feature_sql(fam, ports), params=window).to_arrow_table()
            for fam in ((6, 4) if has_v6 else (4,))
        ]
    )
    if monitored_addresses <= 0:
        # No sensor inventory: the distinct destinations seen are a lower bound of the darknet.
        row = con.execute(
            "SELECT count(DISTINCT dst_ip) FROM flows WHERE time >= $since AND time < $until",
            window,
        ).fetchone()
        monitored_addresses = int(row[0]) if row else 0
    return features_from_table(table, int(settings.flow_interval), monitored_addresses)


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
