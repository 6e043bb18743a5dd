"""Flow-tuple aggregation: keys as corsaro's FlowTuple, counts that add up to the packets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pcapbuild import ethernet, ip4, ipv4, ipv6, pcap_bytes, tcp, udp, write

from iotnotice.capture.reader import read_chunks
from iotnotice.store.flows import FLOW_SCHEMA, aggregate

T0 = 1_700_000_040  # a minute boundary


def _chunk(tmp_path: Path, recs: list[tuple[float, bytes]]):  # type: ignore[no-untyped-def]
    return next(read_chunks(write(tmp_path / "f.pcap", pcap_bytes(recs)), 10_000))


def test_identical_packets_in_one_interval_share_a_row(tmp_path: Path) -> None:
    """Same key within an interval -> one row; the next interval or another key -> new rows."""
    d = ip4("203.0.113.5")
    mirai = ethernet(ipv4("198.51.100.1", "203.0.113.5", tcp(dport=23, seq=d)))
    other = ethernet(ipv4("198.51.100.1", "203.0.113.5", tcp(dport=2323, seq=d)))
    recs = [
        (T0 + 1, mirai),
        (T0 + 10, mirai),
        (T0 + 59.9, mirai),
        (T0 + 60, mirai),
        (T0 + 2, other),
    ]
    table = aggregate(_chunk(tmp_path, recs), np.ones(5, bool), 60)
    assert table.schema == FLOW_SCHEMA
    rows = sorted(
        zip(
            *(table.column(c).to_pylist() for c in ("time", "dst_port", "packet_cnt", "mirai_cnt")),
            strict=True,
        )
    )
    assert rows == [
        (1_700_000_040, 23, 3, 3),
        (1_700_000_040, 2323, 1, 1),
        (1_700_000_100, 23, 1, 1),
    ]
    assert sum(table.column("packet_cnt").to_pylist()) == 5
    assert table.column("src_ip6").null_count == table.num_rows


def test_keep_mask_and_counters(tmp_path: Path) -> None:
    """Masked packets are left out; every fingerprint counter is summed per row."""
    recs = [(T0, ethernet(ipv4("198.51.100.9", "203.0.113.1", udp(), proto=17, ip_id=54321)))] * 4
    recs += [(T0, ethernet(ipv4("127.0.0.1", "203.0.113.1", udp(), proto=17)))] * 2
    chunk = _chunk(tmp_path, recs)
    keep = np.array([True, True, True, False, True, True])
    table = aggregate(chunk, keep, 60).sort_by("src_ip")
    assert table.column("packet_cnt").to_pylist() == [2, 3]
    assert table.column("spoofed_cnt").to_pylist() == [2, 0]
    assert table.column("zmap_cnt").to_pylist() == [0, 3]
    assert table.column("tcp_synlen").to_pylist() == [0, 0]


def test_ipv6_rows_keep_addresses(tmp_path: Path) -> None:
    """IPv6 flows are keyed by their addresses, which are kept as 16-byte values."""
    a = ethernet(ipv6("2001:db8::1", "2001:db8:1::9", udp(1, 2), 17))
    b = ethernet(ipv6("2001:db8::2", "2001:db8:1::9", udp(1, 2), 17))
    v4 = ethernet(ipv4("198.51.100.1", "203.0.113.5", udp(1, 2), proto=17))
    table = aggregate(_chunk(tmp_path, [(T0, a), (T0, b), (T0, a), (T0, v4)]), np.ones(4, bool), 60)
    got = {
        (s.hex() if s else None): n
        for s, n in zip(
            table.column("src_ip6").to_pylist(), table.column("packet_cnt").to_pylist(), strict=True
        )
    }
    assert got == {
        "20010db8000000000000000000000001": 2,
        "20010db8000000000000000000000002": 1,
        None: 1,
    }
    assert table.column("dst_ip6").null_count == 1


def test_many_random_packets_add_up(tmp_path: Path) -> None:
    """On random traffic the rows are unique keys and their counts sum to the packets kept."""
    rng = np.random.default_rng(3)
    recs = []
    for i in range(3000):
        dst = f"203.0.113.{rng.integers(0, 8)}"
        seg = tcp(dport=int(rng.choice([23, 2323, 80])), seq=5, flags=int(rng.choice([2, 18, 4])))
        recs.append(
            (T0 + float(rng.integers(0, 300)), ethernet(ipv4(f"198.51.100.{i % 5}", dst, seg)))
        )
    chunk = _chunk(tmp_path, recs)
    keep = rng.random(len(chunk)) < 0.8
    table = aggregate(chunk, keep, 60)
    assert sum(table.column("packet_cnt").to_pylist()) == int(keep.sum())
    key = ["time", "src_ip", "dst_ip", "dst_port", "tcp_flags"]
    assert table.group_by(key).aggregate([]).num_rows == table.num_rows
    assert table.num_rows < 3000
