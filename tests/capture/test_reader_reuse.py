"""Reading with reused arrays gives the same chunks as reading into fresh ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pcapbuild import ethernet, ipv4, ipv6, pcap_bytes, tcp, udp, write

from iotnotice.capture.reader import read_chunks


def test_reused_chunks_equal_fresh_chunks(tmp_path: Path) -> None:
    """Every chunk, IPv6 addresses included, matches; the arrays really are shared."""
    records = []
    for k in range(2500):
        if k % 5 == 0:
            frame = ethernet(ipv6("2001:db8::1", f"2001:db8::{k % 7 + 2:x}", tcp(sport=k % 9)))
        else:
            frame = ethernet(ipv4("198.51.100.1", f"203.0.113.{k % 250}", udp(sport=k), 17))
        records.append((1_700_000_000 + k, frame))
    path = write(tmp_path / "c.pcap", pcap_bytes(records))
    fresh = [(dict(c.columns), c.src_ip6, c.dst_ip6, c.frames) for c in read_chunks(path, 1000)]
    seen = 0
    arrays = set()
    for k, chunk in enumerate(read_chunks(path, 1000, reuse=True)):
        columns, src6, dst6, frames = fresh[k]
        assert chunk.frames == frames and len(chunk) == len(columns["ts"])
        for name, values in columns.items():
            assert np.array_equal(chunk.columns[name], values), name
        v6 = chunk.ip_version == 6
        assert v6.any()
        assert np.array_equal(chunk.src_ip6[v6], src6[v6])
        assert np.array_equal(chunk.dst_ip6[v6], dst6[v6])
        arrays.add(chunk.columns["ts"].__array_interface__["data"][0])
        seen += 1
    assert seen == 3 == len(fresh)
    assert len(arrays) == 1
