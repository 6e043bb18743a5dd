"""Per-source behaviour over a time window, computed in DuckDB SQL over the ``flows`` view.

One row per source address (IPv4 ``src_ip`` or IPv6 ``src_ip6``) with the counters the rules
read. Packet classes are decided per flow-tuple row from its TCP flags / ICMP type:

- *syn*: TCP with SYN and without ACK (a connection attempt, what scanners and bots send);
- *response*: SYN-ACK, RST, ICMP echo reply or error (types 0, 3, 4, 5, 11, 12; ICMPv6 1-4, 129)
  and UDP from port 53 (DNS responses) — corsaro's backscatter packet types.

TTL: the most common received TTL (by packets) gives the inferred initial TTL (the next of
32/64/128/255 at or above it) and the hop distance. The global scan rate follows Merit's
darknet-events: packets x 2^32 / monitored addresses / active seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from iotnotice.settings import Settings

__all__ = ["Features", "compute_features", "parse_ports"]

_SQL = """
WITH f AS (
    SELECT *,
        protocol = 6 AND (tcp_flags & 18) = 2 AS is_syn,
        (protocol = 6 AND ((tcp_flags & 18) = 18 OR (tcp_flags & 4) = 4))
          OR (protocol = 1 AND src_port IN (0, 3, 4, 5, 11, 12))
          OR (protocol = 58 AND src_port IN (1, 2, 3, 4, 129))
          OR (protocol = 17 AND src_port = 53) AS is_resp,
        protocol = 6 AND (tcp_flags & 18) = 2 AND tcp_synlen = 20 AND ttl BETWEEN 33 AND 64
          AND list_contains($iot_ports, dst_port::INTEGER) AS is_iot
    FROM flows WHERE time >= $since AND time < $until
),
per_src AS (
    SELECT src_ip, src_ip6,
        sum(packet_cnt)::BIGINT AS packets,
        count(*)::BIGINT AS flow_rows,
        (count(DISTINCT dst_ip) FILTER (WHERE dst_ip6 IS NULL)
          + count(DISTINCT dst_ip6))::BIGINT AS destinations,
        count(DISTINCT dst_port) FILTER (WHERE protocol IN (6, 17))::BIGINT AS dst_ports,
        min(time)::BIGINT AS first_seen,
        max(time)::BIGINT AS last_seen,
        sum(mirai_cnt)::BIGINT AS mirai_cnt,
        sum(masscan_cnt)::BIGINT AS masscan_cnt,
        sum(zmap_cnt)::BIGINT AS zmap_cnt,
        sum(spoofed_cnt)::BIGINT AS spoofed_cnt,
        sum(quirk_cnt)::BIGINT AS quirk_cnt,
        count(DISTINCT dst_ip) FILTER (WHERE mirai_cnt > 0)::BIGINT AS mirai_dsts,
        coalesce(sum(packet_cnt) FILTER (WHERE is_syn), 0)::BIGINT AS syn_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE is_syn AND tcp_synlen = 20), 0)::BIGINT
            AS syn_noopt,
        coalesce(sum(packet_cnt) FILTER (WHERE is_resp), 0)::BIGINT AS resp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6 AND (tcp_flags & 18) = 18), 0)::BIGINT
            AS synack_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6 AND (tcp_flags & 4) = 4
            AND (tcp_flags & 18) <> 18), 0)::BIGINT AS rst_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol IN (1, 58) AND is_resp), 0)::BIGINT
            AS icmp_err_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 17 AND is_resp), 0)::BIGINT
            AS dns_resp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6), 0)::BIGINT AS tcp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 17), 0)::BIGINT AS udp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol IN (1, 58)), 0)::BIGINT AS icmp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE is_iot), 0)::BIGINT AS iot_syn,
        (count(DISTINCT dst_ip) FILTER (WHERE is_iot AND dst_ip6 IS NULL)
          + count(DISTINCT dst_ip6) FILTER (WHERE is_iot))::BIGINT AS iot_dsts,
        arg_max({'dst_port': dst_port, 'src_port': src_port, 'protocol': protocol, 'ttl': ttl,
                 'tcp_flags': tcp_flags, 'ip_len': ip_len, 'tcp_synlen': tcp_synlen,
                 'tcp_synwinlen': tcp_synwinlen}, packet_cnt) AS sample
    FROM f GROUP BY src_ip, src_ip6
),
ttl AS (
    SELECT src_ip, src_ip6, arg_max(ttl, n)::INTEGER AS ttl_mode FROM (
        SELECT src_ip, src_ip6, ttl, sum(packet_cnt) AS n FROM f GROUP BY ALL
    ) GROUP BY ALL
),
ports AS (
    SELECT src_ip, src_ip6,
        max_by(label, n, 5) AS top_ports,
        max_by(label, m, 3) FILTER (WHERE m > 0) AS mirai_ports
    FROM (
        SELECT src_ip, src_ip6,
            dst_port::VARCHAR || CASE protocol WHEN 6 THEN '/tcp' ELSE '/udp' END AS label,
            sum(packet_cnt) AS n, sum(mirai_cnt) AS m
        FROM f WHERE protocol IN (6, 17) AND NOT is_resp GROUP BY ALL
    ) GROUP BY ALL
),
resp_window AS (
    SELECT src_ip, src_ip6, max(n)::BIGINT AS resp_window_max FROM (
        SELECT src_ip, src_ip6, time, sum(packet_cnt) AS n FROM f WHERE is_resp GROUP BY ALL
    ) GROUP BY ALL
)
SELECT p.*, t.ttl_mode,
    coalesce(array_to_string(o.top_ports, ','), '') AS top_ports,
    coalesce(array_to_string(o.mirai_ports, ','), '') AS mirai_ports,
    coalesce(w.resp_window_max, 0)::BIGINT AS resp_window_max
FROM per_src p
JOIN ttl t ON t.src_ip = p.src_ip AND t.src_ip6 IS NOT DISTINCT FROM p.src_ip6
LEFT JOIN ports o ON o.src_ip = p.src_ip AND o.src_ip6 IS NOT DISTINCT FROM p.src_ip6
LEFT JOIN resp_window w ON w.src_ip = p.src_ip AND w.src_ip6 IS NOT DISTINCT FROM p.src_ip6
ORDER BY p.src_ip, p.src_ip6
"""


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
    params: dict[str, Any] = {
        "since": -(2**62) if since is None else int(since),
        "until": 2**62 if until is None else int(until),
        "iot_ports": parse_ports(settings.iot_ports),
    }
    table = con.sql(_SQL, params=params).to_arrow_table()
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if name in ("src_ip6", "sample", "top_ports", "mirai_ports"):
            cols[name] = np.array(col.to_pylist(), dtype=object)
        else:
            cols[name] = col.to_numpy(zero_copy_only=False)
    if monitored_addresses <= 0:
        # No sensor inventory: the distinct destinations seen are a lower bound of the darknet.
        row = con.execute(
            "SELECT count(DISTINCT dst_ip) FROM flows WHERE time >= $since AND time < $until",
            {"since": params["since"], "until": params["until"]},
        ).fetchone()
        monitored_addresses = int(row[0]) if row else 0
    _derive(cols, int(settings.flow_interval), monitored_addresses)
    return Features(cols, monitored_addresses, int(settings.flow_interval))


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
