"""The optimised feature query equals a plain reference query: every feature, every class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from flowstore import DARKNET, T0, flow, write_store

from iotnotice.capture.simulate import simulate
from iotnotice.db import connect
from iotnotice.detect.features import SAMPLE_FIELDS, Features, compute_features, parse_ports
from iotnotice.detect.rules import classify
from iotnotice.settings import load_settings
from iotnotice.store.ingest import ingest_files
from iotnotice.store.query import connect_duckdb
from iotnotice.store.sensors import add_sensor

# Written for clarity, not speed: one text key per source, every feature from its own GROUP BY,
# ties broken explicitly with ORDER BY (most packets first, then the smallest TTL / header
# signature / protocol and port), as features.py documents.
REFERENCE = """
WITH f AS (
    SELECT *,
        coalesce(hex(src_ip6), src_ip::VARCHAR) AS src,
        coalesce(hex(dst_ip6), dst_ip::VARCHAR) AS dst,
        protocol = 6 AND (tcp_flags & 18) = 2 AS is_syn,
        (protocol = 6 AND ((tcp_flags & 18) = 18 OR (tcp_flags & 4) = 4))
          OR (protocol = 1 AND src_port IN (0, 3, 4, 5, 11, 12))
          OR (protocol = 58 AND src_port IN (1, 2, 3, 4, 129))
          OR (protocol = 17 AND src_port = 53) AS is_resp
    FROM flows
),
g AS (SELECT *, is_syn AND tcp_synlen = 20 AND ttl BETWEEN 33 AND 64
        AND list_contains($iot, dst_port::INTEGER) AS is_iot FROM f),
counts AS (
    SELECT src, any_value(src_ip) AS src_ip, any_value(src_ip6) AS src_ip6,
        sum(packet_cnt) AS packets, count(*) AS flow_rows,
        min(time) AS first_seen, max(time) AS last_seen,
        sum(mirai_cnt) AS mirai_cnt, sum(masscan_cnt) AS masscan_cnt, sum(zmap_cnt) AS zmap_cnt,
        sum(spoofed_cnt) AS spoofed_cnt, sum(quirk_cnt) AS quirk_cnt,
        coalesce(sum(packet_cnt) FILTER (WHERE is_syn), 0) AS syn_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE is_syn AND tcp_synlen = 20), 0) AS syn_noopt,
        coalesce(sum(packet_cnt) FILTER (WHERE is_resp), 0) AS resp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6 AND (tcp_flags & 18) = 18), 0)
            AS synack_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6 AND (tcp_flags & 4) = 4
            AND (tcp_flags & 18) <> 18), 0) AS rst_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol IN (1, 58) AND is_resp), 0)
            AS icmp_err_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 17 AND is_resp), 0) AS dns_resp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 6), 0) AS tcp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol = 17), 0) AS udp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE protocol IN (1, 58)), 0) AS icmp_pkts,
        coalesce(sum(packet_cnt) FILTER (WHERE is_iot), 0) AS iot_syn,
        count(DISTINCT dst) AS destinations,
        count(DISTINCT dst) FILTER (WHERE mirai_cnt > 0) AS mirai_dsts,
        count(DISTINCT dst) FILTER (WHERE is_iot AND packet_cnt > 0) AS iot_dsts
    FROM g GROUP BY src
),
ttls AS (
    SELECT src, ttl, row_number() OVER (PARTITION BY src ORDER BY sum(packet_cnt) DESC, ttl) AS k
    FROM f GROUP BY src, ttl
),
sigs AS (
    SELECT src, ttl, protocol, tcp_flags, tcp_synlen, tcp_synwinlen,
        row_number() OVER (PARTITION BY src ORDER BY sum(packet_cnt) DESC, ttl, protocol,
            tcp_flags, tcp_synlen, tcp_synwinlen) AS k
    FROM f GROUP BY src, ttl, protocol, tcp_flags, tcp_synlen, tcp_synwinlen
),
sample AS (
    SELECT f.src, {'dst_port': first(f.dst_port ORDER BY f.packet_cnt DESC, f.dst_port),
        'src_port': first(f.src_port ORDER BY f.packet_cnt DESC, f.src_port),
        'protocol': any_value(f.protocol), 'ttl': any_value(f.ttl),
        'tcp_flags': any_value(f.tcp_flags), 'tcp_synlen': any_value(f.tcp_synlen),
        'tcp_synwinlen': any_value(f.tcp_synwinlen)} AS sample
    FROM f JOIN sigs s ON s.k = 1 AND s.src = f.src AND s.ttl = f.ttl
        AND s.protocol = f.protocol AND s.tcp_flags = f.tcp_flags
        AND s.tcp_synlen = f.tcp_synlen AND s.tcp_synwinlen = f.tcp_synwinlen
    GROUP BY f.src
),
port_counts AS (
    SELECT src, dst_port::VARCHAR || CASE protocol WHEN 6 THEN '/tcp' ELSE '/udp' END AS label,
        sum(mirai_cnt) AS m,
        row_number() OVER (PARTITION BY src ORDER BY sum(packet_cnt) DESC, protocol, dst_port)
            AS rn,
        row_number() OVER (PARTITION BY src ORDER BY sum(mirai_cnt) DESC, protocol, dst_port)
            AS rm
    FROM f WHERE protocol IN (6, 17) AND NOT is_resp GROUP BY src, protocol, dst_port
),
ports AS (
    SELECT src, count(*) AS dst_ports,
        string_agg(label, ',' ORDER BY rn) FILTER (WHERE rn <= 5) AS top_ports,
        string_agg(label, ',' ORDER BY rm) FILTER (WHERE rm <= 3 AND m > 0) AS mirai_ports
    FROM port_counts GROUP BY src
),
resp AS (
    SELECT src, max(n) AS resp_window_max FROM (
        SELECT src, time, sum(packet_cnt) AS n FROM f WHERE is_resp GROUP BY src, time
    ) GROUP BY src
)
SELECT c.src_ip, c.src_ip6, COLUMNS(c.* EXCLUDE (src, src_ip, src_ip6))::BIGINT,
    t.ttl AS ttl_mode, s.sample,
    coalesce(p.dst_ports, 0)::BIGINT AS dst_ports, coalesce(p.top_ports, '') AS top_ports,
    coalesce(p.mirai_ports, '') AS mirai_ports,
    coalesce(r.resp_window_max, 0)::BIGINT AS resp_window_max
FROM counts c
JOIN ttls t ON t.src = c.src AND t.k = 1
JOIN sample s ON s.src = c.src
LEFT JOIN ports p ON p.src = c.src
LEFT JOIN resp r ON r.src = c.src
ORDER BY c.src_ip, c.src_ip6
"""


def _extra_rows() -> list[dict[str, Any]]:
    """IPv6 sources, exact ties (TTL, signature, ports) and backscatter next to the capture."""
    six = [bytes.fromhex("20010db8" + "00" * 11 + f"{k:02x}") for k in range(4)]
    dst6 = [bytes.fromhex("20010db8ffff" + "00" * 9 + f"{k:02x}") for k in range(40)]
    rows = [
        flow(src_ip6=six[0], dst_ip6=dst6[i], dst_port=23, tcp_synlen=20, ttl=50 + i % 2)
        for i in range(30)
    ]
    rows += [flow(src_ip6=six[1], dst_ip6=dst6[0], tcp_flags=18, src_port=80, packet_cnt=30)]
    rows += [
        flow(src_ip6=six[2], dst_ip6=dst6[i], dst_port=5555 + i % 3, mirai_cnt=1, tcp_synlen=20)
        for i in range(9)
    ]
    # ties: two TTLs, two signatures and two ports with equal packet counts
    rows += [
        flow(src_ip="9.9.9.9", dst_ip=DARKNET + i, dst_port=(23, 2323)[i % 2], ttl=(40, 120)[i % 2])
        for i in range(8)
    ]
    rows += [
        flow(src_ip="9.9.9.8", dst_ip=DARKNET + 1, tcp_flags=4, src_port=443, time=T0 + 60 * i)
        for i in range(5)
    ]
    return rows


def test_fast_features_and_classes_equal_the_reference(tmp_path: Path) -> None:
    """Every feature and every classification of the fast query equals the reference's."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    sim = simulate(tmp_path / "cap.pcap", tmp_path / "truth.csv", packets=60_000, seed=21)
    engine = connect(settings)
    add_sensor(engine, "s", ["203.0.113.0/24"])
    assert ingest_files(settings, engine, [sim.pcap], sensor="s")[0].status == "ingested"
    write_store(settings.flows_path, _extra_rows(), sensor="t")
    con = connect_duckdb(settings)
    try:
        fast = compute_features(settings, 256)
        table = con.sql(REFERENCE, params={"iot": parse_ports(settings.iot_ports)})
        ref = Features.derived(_columns(table.to_arrow_table()), int(settings.flow_interval), 256)
    finally:
        con.close()
    assert len(fast) == len(ref) > 500
    assert sum(x is not None for x in ref["src_ip6"]) == 3
    for name, want in ref.columns.items():
        got = fast[name]
        if want.dtype == object:
            assert list(got) == list(want), name
        else:
            assert np.array_equal(got.astype(np.float64), want.astype(np.float64)), name
    research = np.full(len(ref), -1)
    reserved = np.zeros(len(ref), dtype=bool)
    a = classify(fast, settings, research, reserved)
    b = classify(ref, settings, research, reserved)
    for field in ("classification", "family", "rule", "confidence"):
        assert list(getattr(a, field)) == list(getattr(b, field)), field
    assert {"infected", "noise", "backscatter"} <= set(b.classification)
    tie = int(np.flatnonzero(ref["src_ip"] == 0x09090909)[0])
    assert fast["ttl_mode"][tie] == 40 and fast["top_ports"][tie] == "23/tcp,2323/tcp"


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    """The reference query's columns as Features keeps them (text as objects, the sample
    struct as one integer column per field)."""
    objects = ("src_ip6", "top_ports", "mirai_ports")
    cols = {
        name: np.array(table.column(name).to_pylist(), dtype=object)
        if name in objects
        else table.column(name).to_numpy(zero_copy_only=False)
        for name in table.column_names
        if name != "sample"
    }
    sample = table.column("sample").combine_chunks()
    for name in SAMPLE_FIELDS:
        cols[f"sample_{name}"] = sample.field(name).to_numpy(zero_copy_only=False)
    return cols
