"""Ingest benchmark: packets/s end to end, of the decode kernel, of tcpdump and of a dpkt loop.

    .venv/bin/python benchmarks/ingest.py --packets 10000000

Generates a capture with ``iotnotice simulate`` (once; reused while the file exists), then
measures on that same file: ``iotnotice ingest`` end to end (decode, fingerprints, flow tuples,
Parquet written and committed, manifest), the decode kernel alone (``read_chunks``),
``tcpdump -r FILE -w /dev/null``, and a dpkt loop counting packets per source (on a prefix of
the file, extrapolated); plus bytes stored per packet and the ingest's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).with_name("iotnotice")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(seconds, exit status, peak RSS in bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if proc.stderr is not None:
        err = proc.stderr.read().decode()
        if status:
            print(err, file=sys.stderr)
    return elapsed, os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def generate(pcap: Path, packets: int) -> None:
    if pcap.exists():
        return
    truth = pcap.with_suffix(".truth.csv")
    probe = subprocess.run([str(BIN), "simulate", "--help"], capture_output=True)
    if probe.returncode == 0:
        subprocess.run(
            [str(BIN), "simulate", str(pcap), "--truth", str(truth), "--packets", str(packets)],
            check=True,
        )
    else:  # the CLI command is not wired yet: the same simulator as a library call
        from iotnotice.capture.simulate import simulate

        simulate(pcap, truth, packets=packets)


def decode_only(pcap: Path, chunk: int) -> int:
    from iotnotice.capture.reader import read_chunks

    return sum(len(c) for c in read_chunks(pcap, chunk))


def warm(pcap: Path) -> None:
    from iotnotice.capture.reader import read_chunks

    with pcap.open("rb") as fh:
        while fh.read(1 << 24):
            pass
    for _chunk in read_chunks(pcap, 1000):
        break


def dpkt_loop(pcap: Path, limit: int) -> int:
    import dpkt

    sources: Counter[bytes] = Counter()
    n = 0
    with pcap.open("rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            if isinstance(ip, dpkt.ip.IP):
                sources[ip.src] += 1
            n += 1
            if n >= limit:
                break
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iotnotice-bench")
    ap.add_argument("--chunk", type=int, default=4_000_000, help="chunk_packets for ingest/decode")
    ap.add_argument("--dpkt-packets", type=int, default=300_000, help="packets for the dpkt loop")
    args = ap.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    pcap = args.workdir / f"sim-{args.packets}.pcap"
    t_gen, _ = timed(lambda: generate(pcap, args.packets))
    size = pcap.stat().st_size
    print(f"capture: {pcap} ({size / 1e6:.0f} MB, generated/reused in {t_gen:.1f} s)")

    # Warm the page cache and numba's compiled-kernel cache so every reader starts alike.
    warm(pcap)
    t_dec, n = timed(lambda: decode_only(pcap, args.chunk))
    packets = int(n)  # type: ignore[call-overload]

    data = args.workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    env = {
        **os.environ,
        "IOTNOTICE_DATA_DIR": str(data),
        "IOTNOTICE_CHUNK_PACKETS": str(args.chunk),
    }
    t_ing, code, rss = run_measured([str(BIN), "ingest", str(pcap)], env)
    if code:
        sys.exit(f"ingest failed with status {code}")
    stored = sum(p.stat().st_size for p in (data / "flows").rglob("*.parquet"))

    t_tcpdump = float("nan")
    if shutil.which("tcpdump"):
        t_tcpdump, _, _ = run_measured(["tcpdump", "-r", str(pcap), "-w", "/dev/null"])
    t_dpkt, m = timed(lambda: dpkt_loop(pcap, args.dpkt_packets))

    rate = {
        "iotnotice ingest (end to end)": packets / t_ing,
        "decode kernel alone (read_chunks)": packets / t_dec,
        "tcpdump -r FILE -w /dev/null": packets / t_tcpdump,
        f"dpkt loop, per-source count ({m:,} pkts)": int(m) / t_dpkt,  # type: ignore[call-overload]
    }
    print(f"packets: {packets:,}")
    for name, pps in rate.items():
        print(f"  {name:<44} {pps / 1e6:8.2f} M packets/s")
    base = rate["tcpdump -r FILE -w /dev/null"]
    dpkt_rate = list(rate.values())[3]
    print(
        f"  ingest / tcpdump: {rate['iotnotice ingest (end to end)'] / base:.2f}x, "
        f"ingest / dpkt: {rate['iotnotice ingest (end to end)'] / dpkt_rate:.1f}x"
    )
    print(f"stored: {stored:,} bytes = {stored / packets:.2f} bytes/packet")
    print(f"ingest peak RSS: {rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
