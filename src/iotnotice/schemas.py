"""Record schemas, declared once with types and descriptions.

The Parquet schema of the flow store, the decoded-packet columns handed from ``capture`` to
``store``, and the host record that ``detect`` produces are all derived from these tables;
tests check the database models and report writers against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = [
    "FLOW_TUPLE",
    "HOST",
    "PACKET",
    "Column",
    "arrow_schema",
    "numpy_dtype",
]


@dataclass(frozen=True)
class Column:
    """One field of a record: name, Arrow type, description."""

    name: str
    type: pa.DataType
    description: str
    nullable: bool = False


# Per-packet columns produced by the decode kernel (numpy arrays, one element per packet).
# Never materialised as Python objects; they live for one chunk and become flow tuples.
PACKET: tuple[Column, ...] = (
    Column("ts", pa.int64(), "Capture time, nanoseconds since the Unix epoch."),
    Column("ip_version", pa.uint8(), "4 or 6; 0 when the frame carried no IP packet."),
    Column("src_ip", pa.uint32(), "IPv4 source address (0 for IPv6)."),
    Column("dst_ip", pa.uint32(), "IPv4 destination address (0 for IPv6)."),
    Column("src_port", pa.uint16(), "TCP/UDP source port; ICMP type for ICMP."),
    Column("dst_port", pa.uint16(), "TCP/UDP destination port; ICMP code for ICMP."),
    Column("protocol", pa.uint8(), "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)."),
    Column("ttl", pa.uint8(), "IPv4 TTL or IPv6 hop limit as received."),
    Column("tcp_flags", pa.uint8(), "TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32)."),
    Column("ip_len", pa.uint16(), "IP total length (IPv6: payload length + 40)."),
    Column(
        "tcp_synlen", pa.uint8(), "TCP header length in bytes of a SYN (20 = no options), else 0."
    ),
    Column("tcp_synwinlen", pa.uint16(), "TCP window of a SYN, else 0."),
    Column("ip_id", pa.uint16(), "IPv4 identification field."),
    Column("tcp_seq", pa.uint32(), "TCP sequence number."),
    Column("fingerprints", pa.uint8(), "Bit set: 1 mirai, 2 masscan, 4 zmap, 8 spoofed, 16 quirk."),
)

# Fingerprint bits in PACKET.fingerprints.
FP_MIRAI = 1
FP_MASSCAN = 2
FP_ZMAP = 4
FP_SPOOFED = 8
FP_QUIRK = 16

# One row per (interval, flow key) as CAIDA corsaro's FlowTuple, plus fingerprint counters.
FLOW_TUPLE: tuple[Column, ...] = (
    Column("time", pa.int64(), "Interval start, seconds since the Unix epoch (UTC)."),
    Column("src_ip", pa.uint32(), "IPv4 source address (0 for IPv6 rows)."),
    Column("dst_ip", pa.uint32(), "IPv4 destination address (0 for IPv6 rows)."),
    Column("src_port", pa.uint16(), "Source port; ICMP type."),
    Column("dst_port", pa.uint16(), "Destination port; ICMP code."),
    Column("protocol", pa.uint8(), "IP protocol number."),
    Column("ttl", pa.uint8(), "TTL / hop limit as received."),
    Column("tcp_flags", pa.uint8(), "TCP flags byte."),
    Column("ip_len", pa.uint16(), "IP total length."),
    Column("tcp_synlen", pa.uint8(), "TCP header length of SYNs (20 = no options), else 0."),
    Column("tcp_synwinlen", pa.uint16(), "Window of SYNs, else 0."),
    Column("packet_cnt", pa.uint32(), "Packets aggregated into this row."),
    Column("mirai_cnt", pa.uint32(), "Packets with TCP seq == destination IPv4 (Mirai)."),
    Column(
        "masscan_cnt", pa.uint32(), "Packets with Masscan's IP ID or corsaro's large-scan test."
    ),
    Column("zmap_cnt", pa.uint32(), "Packets with IP ID 54321 (legacy ZMap)."),
    Column("spoofed_cnt", pa.uint32(), "Packets flagged by corsaro's spoofing heuristics."),
    Column(
        "quirk_cnt", pa.uint32(), "Malformed-but-kept packets (e.g. TCP offset beyond IP length)."
    ),
    Column("src_ip6", pa.binary(16), "IPv6 source address (null for IPv4).", nullable=True),
    Column("dst_ip6", pa.binary(16), "IPv6 destination address (null for IPv4).", nullable=True),
)

# The flow key's IPv4 columns (corsaro's FlowTuple key): FLOW_TUPLE from src_ip to
# tcp_synwinlen. A row per interval and key; IPv6 rows add the address columns.
FLOW_KEY: tuple[str, ...] = tuple(c.name for c in FLOW_TUPLE[1:11])

# A classified source, as ``detect`` writes it and ``iotnotice hosts`` prints it.
HOST: tuple[Column, ...] = (
    Column("ip", pa.string(), "Source address (text)."),
    Column("classification", pa.string(), "infected | scanner | research | backscatter | noise"),
    Column(
        "family", pa.string(), "Malware family or tool (mirai, iot-unknown, masscan, ...).", True
    ),
    Column("confidence", pa.float64(), "Probability-like confidence in [0, 1] of the class."),
    Column("first_seen", pa.timestamp("s", tz="UTC"), "First packet seen."),
    Column("last_seen", pa.timestamp("s", tz="UTC"), "Last packet seen."),
    Column("packets", pa.int64(), "Packets from this source in the window."),
    Column("ports", pa.string(), "Top destination ports, e.g. '23/tcp,2323/tcp'."),
    Column("asn", pa.int64(), "Origin AS number.", True),
    Column("as_name", pa.string(), "AS organisation.", True),
    Column("country", pa.string(), "ISO 3166 country code.", True),
    Column("isp", pa.string(), "ISP registry name.", True),
)


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of a declared record."""
    return pa.schema(
        [
            pa.field(c.name, c.type, nullable=c.nullable, metadata={"doc": c.description})
            for c in columns
        ]
    )


def numpy_dtype(column: Column) -> np.dtype:
    """The numpy dtype used for a fixed-width column."""
    return np.dtype(column.type.to_pandas_dtype())
