"""ISP toolkit benchmark: log lines parsed per second and subscriber lookups per second.

Writes synthetic logs of every kind (FreeRADIUS detail, dhcpd.leases, Kea CSV, CGNAT blocks) to a
temporary directory, times the parsers over them, then times the interval join for random
(address, time, port) lookups. Targets (issue 8): >= 1M log lines/s, >= 100k lookups/s.

    .venv/bin/python benchmarks/isp_match.py [--sessions 100000] [--lookups 200000] [--repeat 2]

Peers measured in the same run: a plain Python line loop over the RADIUS detail file (what a
hand-written parser does: split each line, keep the four attributes) and DuckDB's interval join
of the same lookups against the same intervals (ip equal, start <= time < end); the ratios are
printed.

Each step runs ``--repeat`` times and the best wall and CPU times are shown (as timeit does);
CPU time is the figure to compare on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from iotnotice.isp.logs import (
    parse_cgnat_log,
    parse_dhcpd_leases,
    parse_kea_leases,
    parse_radius_detail,
    radius_sessions,
    u32_to_ipv4,
)
from iotnotice.isp.match import match_lookups

T0 = 1_795_600_800  # 2026-11-25 10:00:00Z
POOL = 0xC6336400  # 198.51.100.0


def _radius(path: Path, sessions: int, rng: np.random.Generator) -> int:
    ips = u32_to_ipv4(POOL + rng.integers(0, 65536, sessions))
    starts = T0 + np.sort(rng.integers(0, 86400 * 7, sessions))
    lines = 0
    with path.open("w") as fh:
        for k, (ip, t) in enumerate(zip(ips, starts.tolist(), strict=True)):
            for status, when in (("Start", t), ("Interim-Update", t + 600), ("Stop", t + 1200)):
                stamp = datetime.fromtimestamp(when, UTC)
                fh.write(
                    f"{stamp:%a %b %d %H:%M:%S %Y}\n"
                    f'\tAcct-Session-Id = "{k:08X}"\n\tAcct-Status-Type = {status}\n'
                    f'\tUser-Name = "user{k % 50000}@isp.example"\n\tFramed-IP-Address = {ip}\n'
                    f"\tNAS-IP-Address = 10.0.0.1\n\tNAS-Port = {k}\n"
                    f'\tCalling-Station-Id = "02-00-00-{k % 256:02X}-00-01"\n'
                    f'\tEvent-Timestamp = "{stamp:%b %d %Y %H:%M:%S} UTC"\n'
                    f"\tAcct-Input-Octets = 1000\n\tAcct-Output-Octets = 2000\n"
                    f"\tTimestamp = {when}\n\n"
                )
                lines += 13
    return lines


def _dhcpd(path: Path, leases: int, rng: np.random.Generator) -> int:
    ips = u32_to_ipv4(0xC0010000 + np.arange(leases) % 65536)
    with path.open("w") as fh:
        for k, ip in enumerate(ips):
            a = datetime.fromtimestamp(T0 + k * 5, UTC)
            b = datetime.fromtimestamp(T0 + k * 5 + 43200, UTC)
            fh.write(
                f"lease {ip} {{\n  starts 3 {a:%Y/%m/%d %H:%M:%S};\n"
                f"  ends 3 {b:%Y/%m/%d %H:%M:%S};\n"
                f"  cltt 3 {a:%Y/%m/%d %H:%M:%S};\n  binding state active;\n"
                f"  next binding state free;\n  hardware ethernet 02:00:00:{k % 256:02x}:00:02;\n"
                f'  client-hostname "host{k}";\n}}\n'
            )
    return leases * 9


def _kea(path: Path, rows: int, rng: np.random.Generator) -> int:
    ips = u32_to_ipv4(0xC0000000 + np.arange(rows) % 65536)
    with path.open("w") as fh:
        fh.write(
            "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
            "hostname,state,user_context,pool_id\n"
        )
        for k, ip in enumerate(ips):
            fh.write(f"{ip},02:00:00:{k % 256:02x}:00:03,,3600,{T0 + k},1,0,0,h{k},0,,0\n")
    return rows + 1


def _cgnat(path: Path, rows: int, rng: np.random.Generator) -> int:
    # 256 public addresses x 63 blocks of 1024 ports, re-allocated every hour (no overlaps).
    k = np.arange(rows)
    ips = u32_to_ipv4(0xCB007100 + k % 256)
    ports = (1024 + (k // 256) % 63 * 1024).tolist()
    starts = (T0 + k // (256 * 63) * 3600).tolist()
    with path.open("w") as fh:
        fh.write("start,end,public_ip,port_first,port_last,inside_ip,subscriber\n")
        for i, (ip, p, t) in enumerate(zip(ips, ports, starts, strict=True)):
            # Odd rows name only the inside address: a Kea lease (192.0.x.y) live at ``t``.
            lease = t - T0 + 2 + i % 3000
            inside = f"192.0.{lease % 65536 // 256}.{lease % 256}" if i % 2 else ""
            sub = "" if i % 2 else f"sub{i}"
            fh.write(f"{t},{t + 3600},{ip},{p},{p + 1023},{inside},{sub}\n")
    return rows + 1


def _python_radius_loop(path: Path) -> int:
    """Peer: the straightforward line-by-line parse of a detail file into Python lists."""
    keep = {"Acct-Status-Type", "Framed-IP-Address", "User-Name", "Event-Timestamp"}
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with path.open() as fh:
        for line in fh:
            if not line.strip():
                if current:
                    records.append(current)
                current = {}
            elif line.startswith("\t"):
                key, _, value = line.strip().partition(" = ")
                if key in keep:
                    current[key] = value.strip('"')
    return len(records)


def _duckdb_join(intervals: pa.Table, ips: np.ndarray, times: np.ndarray) -> int:
    """Peer: DuckDB's interval join (no port ranges, no ambiguity rules)."""
    import duckdb

    con = duckdb.connect()
    lookups = pa.table({"ip": ips, "t": times})
    con.register("iv", intervals.select(["ip", "start", "end"]))
    con.register("lk", lookups)
    sql = "SELECT count(*) FROM lk JOIN iv ON lk.ip = iv.ip AND lk.t >= iv.start AND lk.t < iv.end"
    n = con.execute(sql).fetchone()
    con.close()
    return int(n[0]) if n else 0


def _best(repeat: int, fn: Any) -> tuple[float, float, Any]:
    dt = dcpu = float("inf")
    out = None
    for _ in range(repeat):
        t, cpu = time.perf_counter(), time.process_time()
        out = fn()
        dt = min(dt, time.perf_counter() - t)
        dcpu = min(dcpu, time.process_time() - cpu)
    return dt, dcpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sessions", type=int, default=100_000, help="RADIUS sessions (3 records each)"
    )
    ap.add_argument("--lookups", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per step; the best is shown")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        specs = [
            ("radius", d / "detail", _radius, args.sessions, parse_radius_detail),
            ("dhcpd", d / "dhcpd.leases", _dhcpd, args.sessions, parse_dhcpd_leases),
            ("kea", d / "kea.csv", _kea, args.sessions * 2, parse_kea_leases),
            ("cgnat", d / "cgnat.csv", _cgnat, args.sessions * 2, parse_cgnat_log),
        ]
        tables = []
        parse_times: dict[str, float] = {}
        for kind, path, write, n, parse in specs:
            lines = write(path, n, rng)
            mb = path.stat().st_size / 1e6
            dt = dcpu = float("inf")
            for _ in range(args.repeat):  # best of N, like timeit: the first run pays warm-ups
                t, cpu = time.perf_counter(), time.process_time()
                table = parse(path)
                if kind == "radius":
                    table = radius_sessions(table, 7200)
                dt = min(dt, time.perf_counter() - t)
                dcpu = min(dcpu, time.process_time() - cpu)
            tables.append(table)
            parse_times[kind] = dt
            print(
                f"parse {kind:6s} {lines:>10,} lines {mb:7.1f} MB {dt:6.2f} s "
                f"{lines / dt:>12,.0f} lines/s (cpu {dcpu:5.2f} s) -> {table.num_rows:,} intervals"
            )
        radius_path, radius_lines = specs[0][1], 13 * 3 * args.sessions
        pdt, pcpu, _ = _best(args.repeat, lambda: _python_radius_loop(radius_path))
        print(
            f"peer   python line loop over the RADIUS file {pdt:6.2f} s "
            f"{radius_lines / pdt:>12,.0f} lines/s (cpu {pcpu:5.2f} s)"
        )
        intervals = pa.concat_tables(tables)
        pick = rng.integers(0, intervals.num_rows, args.lookups)
        ips = intervals["ip"].to_numpy()[pick]
        times = intervals["start"].to_numpy()[pick] + 1
        ports = np.where(
            intervals["port_lo"].to_numpy()[pick] >= 0,
            intervals["port_lo"].to_numpy()[pick] + 5,
            -1,
        )
        dt = dcpu = float("inf")
        for _ in range(args.repeat):
            t, cpu = time.perf_counter(), time.process_time()
            result = match_lookups(intervals, ips, times, ports)
            dt = min(dt, time.perf_counter() - t)
            dcpu = min(dcpu, time.process_time() - cpu)
        counts = {s: int((result.status == s).sum()) for s in ("matched", "ambiguous", "unmatched")}
        print(
            f"match  {args.lookups:>10,} lookups over {intervals.num_rows:,} intervals "
            f"{dt:6.2f} s {args.lookups / dt:>12,.0f} lookups/s (cpu {dcpu:5.2f} s) {counts}"
        )
        jdt, jcpu, hits = _best(args.repeat, lambda: _duckdb_join(intervals, ips, times))
        print(
            f"peer   DuckDB interval join of the same lookups {jdt:6.2f} s "
            f"{args.lookups / jdt:>12,.0f} lookups/s (cpu {jcpu:5.2f} s), {hits:,} rows joined"
        )
        radius_dt = parse_times["radius"]
        print(
            f"speed ratios (wall): RADIUS parse {pdt / radius_dt:.2f}x the python loop's; "
            f"match {jdt / dt:.2f}x DuckDB's join"
        )


if __name__ == "__main__":
    main()
