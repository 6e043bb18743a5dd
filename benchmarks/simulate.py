"""Simulator benchmark: write ``--packets`` simulated darknet packets and report the rate.

Prints packets/s against wall-clock and against this process's CPU time (the machine is shared,
so CPU time is the steadier figure), MB/s, chunks, sources and peak resident memory.
Target: well above 2M packets/s on one core. Peer, measured in the same run: dpkt building and
writing Mirai-style SYNs one packet at a time (``--peer-packets``), the usual way to script a pcap.

    .venv/bin/python benchmarks/simulate.py [--packets 10000000] [--out DIR] [--chunk N]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from iotnotice.capture.simulate import DEFAULT_CHUNK, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--out", type=Path, help="directory to write into (default: a temp dir)")
    parser.add_argument("--peer-packets", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        simulate(Path(tmp) / "warm.pcap", Path(tmp) / "warm.csv", packets=2_000)  # JIT, imports
        wall, cpu = time.perf_counter(), time.process_time()
        res = simulate(
            Path(tmp) / "bench.pcap",
            Path(tmp) / "bench.csv",
            packets=args.packets,
            seed=args.seed,
            chunk_packets=args.chunk,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peer = dpkt_rate(Path(tmp) / "peer.pcap", args.peer_packets)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"packets            {res.packets:,} ({res.sources:,} sources, {res.chunks} chunks)")
    print(f"bytes              {res.bytes / 1e6:,.1f} MB")
    print(f"wall               {wall:.2f} s  {res.packets / wall / 1e6:.2f} M packets/s")
    print(f"cpu (this process) {cpu:.2f} s  {res.packets / cpu / 1e6:.2f} M packets/s")
    print(f"peak RSS           {peak:,.0f} MiB")
    print(
        f"peer dpkt          {peer / 1e6:.3f} M packets/s; "
        f"simulator {res.packets / wall / peer:.0f}x"
    )


def dpkt_rate(path: Path, packets: int) -> float:
    """Packets/s of dpkt writing SYNs (seq = destination, as Mirai) one object at a time."""
    import dpkt

    t = time.perf_counter()
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for i in range(packets):
            dst = 0xCB007100 + (i & 255)
            tcp = dpkt.tcp.TCP(sport=40000, dport=23, seq=dst, flags=dpkt.tcp.TH_SYN, win=5840)
            ip = dpkt.ip.IP(
                src=b"\x01\x02\x03\x04",
                dst=dst.to_bytes(4, "big"),
                ttl=64,
                p=dpkt.ip.IP_PROTO_TCP,
                data=tcp,
            )
            eth = dpkt.ethernet.Ethernet(data=ip, type=dpkt.ethernet.ETH_TYPE_IP)
            writer.writepkt(bytes(eth), ts=1_767_571_200 + i / 1000)
    return packets / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
