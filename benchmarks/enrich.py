"""Enrichment benchmark: load the bundled IP data, then enrich 1M random IPv4 addresses.

.venv/bin/python benchmarks/enrich.py [--addresses 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from iotnotice.enrich.ipdata import load_ip_data
from iotnotice.enrich.registry import shipped_registry
from iotnotice.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
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


if __name__ == "__main__":
    main()
