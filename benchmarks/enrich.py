"""Enrichment benchmark: load the bundled IP data, then enrich 1M random IPv4 addresses.

The peer, measured in the same run: geoip2fast's own per-address ``lookup()`` (the library whose
data file is bundled) over a sample of the same addresses; the ratio is printed.

Then the same with a synthetic RouteViews pfx2as table (nested prefixes, /8 to /24, some
multi-origin) over the bundled data: load time and lookup time.

.venv/bin/python benchmarks/enrich.py [--addresses 1000000] [--repeat 5] [--prefixes 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.enrich.ipdata import load_ip_data
from iotnotice.enrich.registry import shipped_registry
from iotnotice.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--prefixes", type=int, default=1_000_000, help="0 skips pfx2as")
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_ip_data(load_settings(environ={}))
    print(f"load: {time.perf_counter() - started:.2f} s ({data.source})")
    ips = np.random.default_rng(1).integers(0, 2**32, args.addresses, dtype=np.uint64)
    ips = ips.astype(np.uint32)
    registry = shipped_registry()
    best = {"lookup": 1e9, "isp match": 1e9, "prefix text": 1e9}
    for _ in range(args.repeat):
        t = time.perf_counter()
        enr = data.lookup(ips)
        best["lookup"] = min(best["lookup"], time.perf_counter() - t)
        t = time.perf_counter()
        registry.match_columns(enr.asn, enr.as_name, ips)
        best["isp match"] = min(best["isp match"], time.perf_counter() - t)
        t = time.perf_counter()
        _ = enr.prefix
        best["prefix text"] = min(best["prefix text"], time.perf_counter() - t)
    for name, seconds in best.items():
        print(
            f"{name}: {seconds:.3f} s for {args.addresses:,} addresses "
            f"({args.addresses / seconds / 1e6:.1f} M/s), best of {args.repeat}"
        )
    peer_rate = geoip2fast_rate(ips[:20_000])
    ours = args.addresses / best["lookup"]
    print(
        f"peer geoip2fast lookup(): {peer_rate / 1e6:.3f} M/s over 20,000 addresses; "
        f"vectorised lookup is {ours / peer_rate:.0f}x its rate"
    )
    if args.prefixes:
        pfx2as(ips, args.prefixes, args.repeat)


def geoip2fast_rate(ips: np.ndarray) -> float:
    """Addresses per second of geoip2fast's per-address lookup on the same data file."""
    from geoip2fast import GeoIP2Fast

    g = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn.dat.gz", verbose=False)
    text = [f"{i >> 24}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in ips.tolist()]
    t = time.perf_counter()
    for ip in text:
        g.lookup(ip)
    return len(text) / (time.perf_counter() - t)


def synthetic_pfx2as(path: Path, n: int) -> None:
    """n random prefixes in CAIDA's layout, written with Arrow (gzip level 1)."""
    rng = np.random.default_rng(2)
    lengths = rng.choice(np.arange(8, 25), n, p=np.r_[np.full(16, 0.4 / 16), 0.6])
    host = (32 - lengths).astype(np.uint64)
    nets = (rng.integers(0, 2**32, n, dtype=np.uint64) >> host) << host
    octets = [
        pa.array((nets >> np.uint64(s)) & np.uint64(255)).cast(pa.string()) for s in (24, 16, 8, 0)
    ]
    asn = pa.array(rng.integers(1, 400_000, n)).cast(pa.string())
    moas = pc.binary_join_element_wise(
        asn, pa.array(rng.integers(1, 400_000, n)).cast(pa.string()), "_"
    )
    asn = pc.if_else(pa.array(rng.random(n) < 0.02), moas, asn)
    lines = pc.binary_join_element_wise(
        pc.binary_join_element_wise(*octets, "."), pa.array(lengths).cast(pa.string()), asn, "\t"
    )
    text = "\n".join(lines.to_pylist()) + "\n"
    path.write_bytes(gzip.compress(text.encode(), compresslevel=1))


def pfx2as(ips: np.ndarray, n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "routeviews-rv2-20261101-1200.pfx2as.gz"
        synthetic_pfx2as(path, n)
        started = time.perf_counter()
        data = load_ip_data(load_settings(environ={}, ip_data=f"bundled,{path}"))
        print(f"load bundled + pfx2as: {time.perf_counter() - started:.2f} s ({data.source})")
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        enr = data.lookup(ips)
        best = min(best, time.perf_counter() - t)
    routed = int((enr.asn >= 0).sum())
    print(
        f"lookup with pfx2as: {best:.3f} s for {len(ips):,} addresses "
        f"({len(ips) / best / 1e6:.1f} M/s, {routed:,} with an AS number), best of {repeat}"
    )


if __name__ == "__main__":
    main()
