"""Ingest benchmark: packets/s end to end, of the decode kernel, of tcpdump and of a dpkt loop.

    .venv/bin/python benchmarks/ingest.py --packets 10000000

Generates a capture with ``iotnotice simulate`` (once; reused while the file exists), then
measures on that same file: ``iotnotice ingest`` end to end (decode, fingerprints, flow tuples,
Parquet written and committed, manifest), the decode kernel alone (``read_chunks``),
``tcpdump -r FILE -w /dev/null``, and a dpkt loop counting packets per source (on a prefix of
the file, extrapolated); plus bytes stored per packet and the ingest's peak RSS.

With ``--phases`` it also runs the ingest once more in a process of its own with the pipeline's
steps wrapped, and prints each step's thread CPU seconds and minor page faults (steps run in
two threads: decode, aggregate and split in the worker, the Parquet writes in the main one).
"""

from __future__ import annotations

import argparse
import os
import resource
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


# (module, attribute, label) of the steps --phases measures; nested steps are indented.
PHASES = (
    ("iotnotice.capture.reader:_Decoder", "walk", "decode (kernel calls)"),
    ("iotnotice.store.ingest", "aggregate", "flow tuples (aggregate)"),
    ("iotnotice.store.flows", "_packed", "  pack"),
    ("iotnotice.store.flows", "_storage_order", "  sort"),
    ("iotnotice.store.flows", "_group", "  group"),
    ("iotnotice.store.flows", "_unpack", "  unpack"),
    ("iotnotice.store.writer:FlowWriter", "split", "hour cuts + statistics partials"),
    ("iotnotice.stats.ingestagg:IngestAggregator", "prepare", "  statistics partials"),
    ("iotnotice.store.writer:FlowWriter", "add_parts", "Parquet writes (incl. closing)"),
    ("iotnotice.stats.ingestagg:IngestAggregator", "close", "  statistics files"),
    ("iotnotice.store.writer:FlowWriter", "commit", "commit"),
    ("iotnotice.stats.aggregates", "compact_aggregates", "month-set compaction"),
)


def phases_child(pcap: Path) -> None:
    """Run ``iotnotice ingest pcap`` in this process with PHASES wrapped; report on exit."""
    import atexit
    import functools
    import importlib
    import threading

    start = time.process_time()
    totals: dict[str, list[float]] = {label: [0.0, 0.0, 0] for _m, _a, label in PHASES}
    lock = threading.Lock()

    def wrap(fn: Callable[..., object], label: str) -> Callable[..., object]:
        @functools.wraps(fn)
        def timed_step(*args: object, **kwargs: object) -> object:
            faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            cpu = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu = time.thread_time() - cpu
                faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults
                with lock:
                    t = totals[label]
                    t[0] += cpu
                    t[1] += faults
                    t[2] += 1

        return timed_step

    for where, attr, label in PHASES:
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        if cls:
            owner = getattr(owner, cls)
        setattr(owner, attr, wrap(getattr(owner, attr), label))
    imported = time.process_time() - start

    def report() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"phases: process CPU {time.process_time():.2f} s (of which importing the pipeline "
            f"{imported:.2f} s), {usage.ru_minflt:,} minor faults"
        )
        for label, (cpu, faults, calls) in totals.items():
            print(f"  {label:<34} {cpu:7.3f} s CPU {int(faults):9,} faults {int(calls):5} calls")

    atexit.register(report)
    from iotnotice.cli import main as cli_main

    sys.argv = ["iotnotice", "ingest", str(pcap)]
    cli_main()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--phases-child":
        phases_child(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iotnotice-bench")
    default_chunk = next(s.default for s in SETTINGS if s.name == "chunk_packets")
    ap.add_argument(
        "--chunk", type=int, default=default_chunk, help="chunk_packets (default: the setting's)"
    )
    ap.add_argument("--dpkt-packets", type=int, default=300_000, help="packets for the dpkt loop")
    ap.add_argument("--phases", action="store_true", help="also print CPU time per pipeline step")
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
    if args.phases:
        shutil.rmtree(data, ignore_errors=True)
        out = subprocess.run(
            [sys.executable, __file__, "--phases-child", str(pcap)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print(out[out.index("phases:") :].rstrip())
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
