"""aggregate() against a plain-Python reference: the same rows, in the same order.

The reference states the contract: one row per (interval, flow key) of the kept packets,
the key's fields from its first packet, rows ordered by (hour, source, destination) and,
within that, by the capture position of each row's first packet.
"""

from __future__ import annotations

import numpy as np
import pytest

from iotnotice.capture.reader import PacketChunk
from iotnotice.schemas import FLOW_KEY
from iotnotice.store.flows import FLOW_SCHEMA, aggregate

_KEY = FLOW_KEY
_BITS = ("mirai_cnt", "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt")


def reference(chunk: PacketChunk, keep: np.ndarray, interval: int) -> list[tuple]:
    c = chunk.columns
    groups: dict[tuple, list] = {}
    for i in range(len(chunk)):
        ver = int(c["ip_version"][i])
        if not keep[i] or ver == 0:
            continue
        time = int(c["ts"][i]) // (interval * 1_000_000_000) * interval
        fields = tuple(int(c[name][i]) for name in _KEY)
        six = (bytes(chunk.src_ip6[i]), bytes(chunk.dst_ip6[i])) if ver == 6 else (None, None)
        key = (time, *fields, ver, *six)
        g = groups.setdefault(key, [i, 0, [0] * 5])
        g[1] += 1
        fp = int(c["fingerprints"][i])
        for bit in range(5):
            g[2][bit] += (fp >> bit) & 1
    ordered = sorted(
        groups.items(), key=lambda kv: (kv[0][0] // 3600, kv[0][1], kv[0][2], kv[1][0])
    )
    return [(key[0], *key[1:11], n, *bits, key[12], key[13]) for key, (_first, n, bits) in ordered]


def rows_of(table) -> list[tuple]:  # type: ignore[no-untyped-def]
    cols = [table.column(f.name).to_pylist() for f in FLOW_SCHEMA]
    return list(zip(*cols, strict=True))


def random_chunk(rng: np.random.Generator, n: int, *, wide: bool, hours: int) -> PacketChunk:
    chunk = PacketChunk.empty(n)
    c = chunk.columns
    base = 1_700_000_000 * 10**9
    c["ts"][:] = base + rng.integers(0, hours * 3600 * 10**9, n)
    if hours == 1:  # in capture order; longer spans stay shuffled (clocks do step back)
        c["ts"].sort()
    c["ip_version"][:] = rng.choice([4, 4, 4, 4, 6, 0], n)
    if wide:  # addresses anywhere: the sort key does not fit a machine word with the index
        c["src_ip"][:] = rng.integers(0, 2**32, n, dtype=np.uint32)
        c["dst_ip"][:] = rng.integers(0, 2**32, n, dtype=np.uint32)
    else:  # a darknet /24 and a few hundred sources, many repeated: long runs and short
        c["src_ip"][:] = rng.choice(rng.integers(0, 2**32, 300, dtype=np.uint32), n)
        c["dst_ip"][:] = 0xCB007100 | rng.integers(0, 256, n, dtype=np.uint32)
    c["src_port"][:] = rng.choice([1, 2, 40000], n)
    c["dst_port"][:] = rng.choice([23, 2323, 80], n)
    c["protocol"][:] = rng.choice([6, 17, 1], n)
    c["ttl"][:] = rng.choice([64, 250], n)
    c["tcp_flags"][:] = rng.choice([2, 18], n)
    c["ip_len"][:] = rng.choice([40, 44], n)
    c["tcp_synlen"][:] = rng.choice([0, 20], n)
    c["tcp_synwinlen"][:] = rng.choice([0, 1024], n)
    c["ip_id"][:] = 0
    c["tcp_seq"][:] = 0
    c["fingerprints"][:] = rng.integers(0, 32, n)
    v6 = c["ip_version"] == 6
    c["src_ip"][v6] = 0
    c["dst_ip"][v6] = 0
    chunk.src_ip6[:] = 0
    chunk.dst_ip6[:] = 0
    chunk.src_ip6[:, 15] = rng.integers(0, 3, n)
    chunk.dst_ip6[:, 0] = rng.integers(0, 2, n)
    return chunk


@pytest.mark.parametrize(
    ("seed", "n", "wide", "hours", "interval"),
    [
        (1, 5000, False, 1, 60),
        (2, 5000, False, 3, 60),
        (3, 5000, True, 1, 60),
        (4, 5000, True, 2, 300),
        (5, 1, False, 1, 60),
        (6, 40000, False, 2, 60),
    ],
)
def test_aggregate_matches_reference(
    seed: int, n: int, wide: bool, hours: int, interval: int
) -> None:
    rng = np.random.default_rng(seed)
    chunk = random_chunk(rng, n, wide=wide, hours=hours)
    keep = rng.random(n) < 0.9
    assert rows_of(aggregate(chunk, keep, interval)) == reference(chunk, keep, interval)


def test_hours_years_apart_match_reference() -> None:
    """Hours too far apart for one radix digit take the fallback sort, same result."""
    rng = np.random.default_rng(7)
    chunk = random_chunk(rng, 3000, wide=False, hours=1)
    chunk.columns["ts"][::2] += 10 * 365 * 86400 * 10**9
    keep = np.ones(3000, bool)
    assert rows_of(aggregate(chunk, keep, 60)) == reference(chunk, keep, 60)


def test_reused_output_columns_never_change_a_live_table() -> None:
    """aggregate() reuses its output columns only once no table refers to them."""
    rng = np.random.default_rng(11)
    chunks = [random_chunk(rng, 4000, wide=False, hours=1) for _ in range(6)]
    keep = np.ones(4000, bool)
    expected = [reference(c, keep, 60) for c in chunks]
    kept = [aggregate(chunks[0], keep, 60), aggregate(chunks[1], keep, 60).slice(5, 50)]
    for c, want in zip(chunks[2:], expected[2:], strict=True):
        assert rows_of(aggregate(c, keep, 60)) == want  # dropped at once: its columns recycle
    assert rows_of(kept[0]) == expected[0]
    assert rows_of(kept[1]) == expected[1][5:55]
