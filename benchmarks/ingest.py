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
from dataclasses import dataclass
from pathlib import Path

from iotnotice.settings import SETTINGS

BIN = Path(sys.executable).with_name("iotnotice")


@dataclass
class Run:
    """Wall-clock and CPU seconds of one measurement (CPU time is robust on a shared machine)."""

    wall: float
    cpu: float
    out: object = None
    rss: int = 0


def timed(fn: Callable[[], object]) -> Run:
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return Run(time.perf_counter() - start, time.process_time() - cpu, out)


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall and CPU seconds and peak RSS of one child process; exits if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr is not None else ""
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{cmd[0]} failed: {err}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, None, usage.ru_maxrss * 1024)


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

    # As ingest reads: each chunk is done with before the next one, so arrays are reused.
    return sum(len(c) for c in read_chunks(pcap, chunk, reuse=True))


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
    default_chunk = next(s.default for s in SETTINGS if s.name == "chunk_packets")
    ap.add_argument(
        "--chunk", type=int, default=default_chunk, help="chunk_packets (default: the setting's)"
    )
    ap.add_argument("--dpkt-packets", type=int, default=300_000, help="packets for the dpkt loop")
    args = ap.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    pcap = args.workdir / f"sim-{args.packets}.pcap"
    gen = timed(lambda: generate(pcap, args.packets))
    size = pcap.stat().st_size
    print(f"capture: {pcap} ({size / 1e6:.0f} MB, generated/reused in {gen.wall:.1f} s)")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    # Warm the page cache and numba's compiled-kernel cache so every reader starts alike.
    warm(pcap)
    dec = timed(lambda: decode_only(pcap, args.chunk))
    packets = int(dec.out)  # type: ignore[call-overload]

    data = args.workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    env = {
        **os.environ,
        "IOTNOTICE_DATA_DIR": str(data),
        "IOTNOTICE_CHUNK_PACKETS": str(args.chunk),
    }
    ing = run_measured([str(BIN), "ingest", str(pcap)], env)
    stored = sum(p.stat().st_size for p in (data / "flows").rglob("*.parquet"))
    startup = run_measured([str(BIN), "sensor", "list"], env)

    runs = {"iotnotice ingest (end to end)": (ing, packets)}
    runs["decode kernel alone (read_chunks)"] = (dec, packets)
    if shutil.which("tcpdump"):
        runs["tcpdump -r FILE -w /dev/null"] = (
            run_measured(["tcpdump", "-r", str(pcap), "-w", "/dev/null"]),
            packets,
        )
    dp = timed(lambda: dpkt_loop(pcap, args.dpkt_packets))
    runs["dpkt loop counting per source"] = (dp, int(dp.out))  # type: ignore[call-overload]

    print(f"packets: {packets:,}")
    print(f"  {'':<40} {'wall Mpkt/s':>12} {'CPU Mpkt/s':>12}")
    for name, (run, n) in runs.items():
        print(f"  {name:<40} {n / run.wall / 1e6:12.2f} {n / run.cpu / 1e6:12.2f}")
    print(
        f"  (CLI start-up alone, 'iotnotice sensor list': {startup.wall:.1f} s wall, "
        f"{startup.cpu:.1f} s CPU; included in the end-to-end figure)"
    )
    for name in ("tcpdump -r FILE -w /dev/null", "dpkt loop counting per source"):
        if name in runs:
            run, n = runs[name]
            wall = (packets / ing.wall) / (n / run.wall)
            cpu = (packets / ing.cpu) / (n / run.cpu)
            print(f"  ingest vs {name.split()[0]}: {wall:.2f}x wall, {cpu:.2f}x CPU")
    print(f"stored: {stored:,} bytes = {stored / packets:.2f} bytes/packet")
    print(f"ingest peak RSS: {ing.rss / 2**20:.0f} MiB")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
