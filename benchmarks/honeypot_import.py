"""Honeypot import benchmark: Cowrie JSON lines -> sessions -> database -> hosts.

Writes a synthetic Cowrie log of ``--sessions`` telnet sessions (a third Mirai bots, the rest
brute force and people), then times parsing alone, a full import into a fresh SQLite database,
a second (idempotent) import, and the merge into ``hosts``. Prints lines/s and peak memory, and
the ratio to a peer measured in the same run: ``json.loads`` of every line (the floor any
Cowrie JSON reader pays).

    .venv/bin/python benchmarks/honeypot_import.py [--sessions 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from iotnotice.db import connect
from iotnotice.honeypot import import_cowrie_logs, merge_into_hosts, parse_cowrie_file
from iotnotice.settings import load_settings

MIRAI = ["enable", "system", "shell", "sh", "/bin/busybox MIRAI"]
PERSON = ["ls -la", "uname -a", "cat /proc/cpuinfo"]


def _session(i: int) -> list[dict[str, object]]:
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    base = {"session": f"{i:012x}", "src_ip": ip, "sensor": "bench", "protocol": "telnet"}
    bot = i % 3 == 0
    user, password = ("root", "xc3511") if bot else ("admin", f"pw{i}")
    events: list[dict[str, object]] = [
        {"eventid": "cowrie.session.connect", "src_port": 40000 + i % 20000, "dst_port": 2223},
        {"eventid": "cowrie.login.failed", "username": "root", "password": "admin"},
        {"eventid": "cowrie.login.success", "username": user, "password": password},
    ]
    events += [{"eventid": "cowrie.command.input", "input": c} for c in (MIRAI if bot else PERSON)]
    events.append({"eventid": "cowrie.session.closed", "duration": 2.5})
    second = i * 10
    out = []
    for n, event in enumerate(events):
        t = second + n
        stamp = f"2026-11-{1 + t // 86400 % 28:02d}T{t // 3600 % 24:02d}:{t // 60 % 60:02d}:"
        out.append({**base, **event, "timestamp": f"{stamp}{t % 60:02d}.000000Z"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cowrie.json"
        with log.open("w") as fh:
            for i in range(args.sessions):
                for event in _session(i):
                    fh.write(json.dumps(event) + "\n")
        lines = sum(1 for _ in log.open())
        size = log.stat().st_size
        settings = load_settings(environ={}, data_dir=str(Path(tmp) / "data"))
        engine = connect(settings)
        tp = time.perf_counter()
        with log.open() as fh:
            for line in fh:
                json.loads(line)
        peer = time.perf_counter() - tp
        t0 = time.perf_counter()
        parsed = parse_cowrie_file(log)
        t1 = time.perf_counter()
        summary = import_cowrie_logs(settings, engine, [log])
        t2 = time.perf_counter()
        again = import_cowrie_logs(settings, engine, [log])
        t3 = time.perf_counter()
        merged = merge_into_hosts(settings, engine)
        t4 = time.perf_counter()
        engine.dispose()
    assert len(parsed.sessions) == args.sessions and again.sessions_unchanged == args.sessions
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{lines:,} lines, {args.sessions:,} sessions, {size / 2**20:.1f} MiB")
    print(f"peer json.loads: {peer:6.2f} s  {lines / peer:>10,.0f} lines/s")
    print(f"parse:          {t1 - t0:6.2f} s  {lines / (t1 - t0):>10,.0f} lines/s")
    print(f"parse takes {(t1 - t0) / peer:.1f}x the time of json.loads alone")
    print(f"import (new):   {t2 - t1:6.2f} s  {lines / (t2 - t1):>10,.0f} lines/s")
    print(f"import (again): {t3 - t2:6.2f} s  {lines / (t3 - t2):>10,.0f} lines/s")
    print(f"merge:          {t4 - t3:6.2f} s  {merged.created:,} hosts created")
    print(f"infected sources: {len(summary.infected_sources):,}; peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
