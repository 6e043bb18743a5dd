"""The traffic simulator: its capture parsed independently with dpkt, checked against its truth."""

from __future__ import annotations

import csv
import ipaddress
import shutil
import struct
import subprocess
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dpkt
import numpy as np
import pytest
from click.testing import CliRunner

from iotnotice.capture.simulate import TRUTH_COLUMNS, SimulationResult, simulate
from iotnotice.cli import cli
from iotnotice.cli.commands import register
from iotnotice.errors import ConfigError

DARKNET = ipaddress.IPv4Network("203.0.113.0/24")
RANGES = Path(__file__).resolve().parents[2] / "src/iotnotice/capture/data/source_ranges.csv"


@dataclass
class Parsed:
    """Per-packet fields of a capture, decoded with dpkt (one numpy column per field)."""

    ts: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    proto: np.ndarray
    ttl: np.ndarray
    ip_id: np.ndarray
    ip_len: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    seq: np.ndarray
    flags: np.ndarray
    window: np.ndarray
    doff: np.ndarray
    ip_sum_ok: np.ndarray
    l4_sum_ok: np.ndarray


def _ones(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _l4_ok(ip: dpkt.ip.IP, raw_ip: bytes) -> bool:
    segment = raw_ip[20 : ip.len]
    if ip.p == 1:
        return _ones(segment) == 0xFFFF
    pseudo = ip.src + ip.dst + struct.pack(">BBH", 0, ip.p, len(segment))
    return _ones(pseudo + segment) == 0xFFFF


def parse(path: Path) -> Parsed:
    """Decode every frame with dpkt; fail on anything that is not Ethernet/IPv4."""
    rows: dict[str, list[int | float | bool]] = {f: [] for f in Parsed.__dataclass_fields__}
    with path.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        for ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            assert isinstance(ip, dpkt.ip.IP)
            raw_ip = bytes(buf[14 : 14 + ip.len])
            l4 = ip.data
            tcp = isinstance(l4, dpkt.tcp.TCP)
            rows["ts"].append(ts)
            rows["src"].append(int.from_bytes(ip.src, "big"))
            rows["dst"].append(int.from_bytes(ip.dst, "big"))
            rows["proto"].append(ip.p)
            rows["ttl"].append(ip.ttl)
            rows["ip_id"].append(ip.id)
            rows["ip_len"].append(ip.len)
            rows["sport"].append(l4.sport if ip.p != 1 else l4.type)
            rows["dport"].append(l4.dport if ip.p != 1 else l4.code)
            rows["seq"].append(l4.seq if tcp else 0)
            rows["flags"].append(l4.flags if tcp else 0)
            rows["window"].append(l4.win if tcp else 0)
            rows["doff"].append(l4.off if tcp else 0)
            rows["ip_sum_ok"].append(_ones(raw_ip[:20]) == 0xFFFF)
            rows["l4_sum_ok"].append(_l4_ok(ip, raw_ip))
    return Parsed(**{k: np.array(v) for k, v in rows.items()})


def read_truth(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {row["ip"]: row for row in csv.DictReader(fh)}


@dataclass
class Run:
    result: SimulationResult
    packets: Parsed
    truth: dict[str, dict[str, str]]

    def where(self, **match: str) -> np.ndarray:
        """Packet mask of the sources whose truth row has all the given values."""
        ips = [
            int(ipaddress.IPv4Address(ip))
            for ip, row in self.truth.items()
            if all(row[k] == v for k, v in match.items())
        ]
        return np.isin(self.packets.src, ips)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("sim")
    result = simulate(base / "s.pcap", base / "t.csv", packets=20_000, seed=5, chunk_packets=4_000)
    return Run(result, parse(result.pcap), read_truth(result.truth))


def test_capture_header_and_time_order(run: Run) -> None:
    """Classic little-endian microsecond pcap, Ethernet, timestamps sorted within the period."""
    head = run.result.pcap.read_bytes()[:24]
    assert struct.unpack("<IHHiIII", head) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    ts = run.packets.ts
    assert len(ts) == run.result.packets == 20_000
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] >= run.result.start.timestamp() and ts[-1] < run.result.end.timestamp()
    assert run.result.bytes == run.result.pcap.stat().st_size


def test_every_checksum_is_valid(run: Run) -> None:
    """IPv4 header checksums and TCP/UDP/ICMP checksums all verify."""
    assert run.packets.ip_sum_ok.all()
    assert run.packets.l4_sum_ok.all()


def test_mirai_packets_carry_the_fingerprint(run: Run) -> None:
    """Every packet of a Mirai bot is a 40-byte SYN whose sequence number is its destination."""
    p, bots = run.packets, run.where(family="mirai")
    assert bots.sum() > 5000
    assert np.all(p.proto[bots] == 6) and np.all(p.flags[bots] == dpkt.tcp.TH_SYN)
    assert np.array_equal(p.seq[bots], p.dst[bots])
    assert np.all(p.ip_len[bots] == 40)
    classic = bots & ~run.where(variant="doff6")
    assert np.all(p.doff[classic] == 5)
    assert np.all((p.ttl[bots] <= 60) & (p.ttl[bots] >= 40))
    assert not np.any(p.seq[~bots & (p.proto == 6)] == p.dst[~bots & (p.proto == 6)])


def test_classic_bots_keep_port_and_window_and_prefer_telnet(run: Run) -> None:
    """A classic bot keeps one source port (>= 1024) and window; dport 23 : 2323 is about 9 : 1."""
    p = run.packets
    telnet = run.where(family="mirai", variant="telnet")
    for ip in np.unique(p.src[telnet]):
        mine = p.src == ip
        row = run.truth[str(ipaddress.IPv4Address(int(ip)))]
        assert set(p.sport[mine]) == {int(row["sport"])} and int(row["sport"]) >= 1024
        assert set(p.window[mine]) == {int(row["window"])}
    ports = Counter(p.dport[telnet].tolist())
    assert set(ports) == {23, 2323}
    assert 0.87 < ports[23] / telnet.sum() < 0.93


def test_variants_reach_other_iot_ports(run: Run) -> None:
    """Mirai variants scan IoT exploit ports beyond telnet, fingerprint intact."""
    p = run.packets
    variant = run.where(family="mirai") & ~run.where(variant="telnet")
    assert {37215, 52869, 5555, 7547} & set(p.dport[variant].tolist())
    assert np.array_equal(p.seq[variant], p.dst[variant])


def test_2020_variant_is_a_quirk_packet(run: Run) -> None:
    """The 2020 variant: data offset 6 in a 40-byte packet, a new sport and window per probe."""
    p, quirk = run.packets, run.where(variant="doff6")
    assert quirk.sum() >= 100
    assert np.all(p.doff[quirk] == 6) and np.all(p.ip_len[quirk] == 40)
    assert np.array_equal(p.seq[quirk], p.dst[quirk])
    assert len(np.unique(p.sport[quirk])) > 0.9 * quirk.sum()
    assert len(np.unique(p.window[quirk])) > 0.9 * quirk.sum()
    assert (p.doff[~quirk] * 4 <= p.ip_len[~quirk] - 20).all()


def test_masscan_and_zmap_fingerprints(run: Run) -> None:
    """Masscan: IP ID = (dst ^ dport ^ seq) & 0xffff, window 1024; ZMap: IP ID 54321; TTL >= 200."""
    p = run.packets
    masscan = run.where(family="masscan")
    assert masscan.sum() >= 100
    expected = (p.dst[masscan] ^ p.dport[masscan] ^ p.seq[masscan]) & 0xFFFF
    assert np.array_equal(p.ip_id[masscan], expected)
    assert np.all(p.window[masscan] == 1024) and np.all(p.doff[masscan] == 5)
    zmap = run.where(family="zmap")
    assert zmap.sum() >= 100 and np.all(p.ip_id[zmap] == 54321)
    assert np.all(p.ttl[masscan | zmap] >= 200)


def test_iot_unknown_bots_look_like_bots_without_the_fingerprint(run: Run) -> None:
    """Un-fingerprinted IoT bots: no options, TTL from 64, IoT ports, >= 25 packets each."""
    p, iot = run.packets, run.where(family="iot-unknown")
    assert iot.sum() > 0 and np.all(p.doff[iot] == 5) and np.all(p.ttl[iot] <= 64)
    assert not np.any(p.seq[iot] == p.dst[iot])
    assert set(p.dport[iot].tolist()) <= {23, 2323, 5555, 7547, 37215, 52869, 8080, 81, 60001}
    rows = [r for r in run.truth.values() if r["family"] == "iot-unknown"]
    assert all(int(r["packets"]) >= 25 for r in rows)


def test_backscatter_is_replies_from_victims(run: Run) -> None:
    """Backscatter is SYN-ACK, RST, ICMP errors and DNS answers; most victims pass corsaro's bar."""
    p, bs = run.packets, run.where(label="backscatter")
    tcp = bs & (p.proto == 6)
    assert np.all((p.flags[tcp] & (dpkt.tcp.TH_ACK | dpkt.tcp.TH_RST)) != 0)
    icmp = bs & (p.proto == 1)
    assert set(p.sport[icmp].tolist()) <= {3, 11}
    udp = bs & (p.proto == 17)
    assert np.all(p.sport[udp] == 53)
    rows = [r for r in run.truth.values() if r["label"] == "backscatter"]
    seconds = [
        (datetime.fromisoformat(r["last_ts"]) - datetime.fromisoformat(r["first_ts"])).seconds
        for r in rows
    ]
    big = [s >= 55 and int(r["packets"]) >= 25 for r, s in zip(rows, seconds, strict=True)]
    assert sum(big) >= 0.7 * len(rows)


def test_noise_research_spoofed_and_misrouted(run: Run) -> None:
    """OS SYNs carry options, research comes from published ranges, spoofed from bogons,
    and misrouted packets go outside the darknet."""
    p = run.packets
    os_syn = run.where(family="os")
    assert set(p.doff[os_syn].tolist()) <= {8, 10} and os_syn.any()
    research = [
        ipaddress.IPv4Address(ip) for ip, r in run.truth.items() if r["label"] == "research"
    ]
    censys = ipaddress.IPv4Network("167.94.138.0/24")
    assert research and all(ip.is_global for ip in research)
    assert {r["family"] for r in run.truth.values() if r["label"] == "research"} <= {
        "censys",
        "shadowserver",
    }
    assert any(ip in censys for ip in research) or len(research) < 8
    spoofed = [ipaddress.IPv4Address(ip) for ip, r in run.truth.items() if r["label"] == "spoofed"]
    assert spoofed and all(ip.is_multicast or not ip.is_global for ip in spoofed)
    inside = np.array([ipaddress.IPv4Address(int(d)) in DARKNET for d in p.dst])
    assert np.array_equal(~inside, run.where(family="misrouted"))
    assert run.result.outside_packets == (~inside).sum() > 0


def test_truth_agrees_with_the_capture(run: Run) -> None:
    """Per source: packets, darknet/outside, fingerprint counts and first/last times match."""
    p = run.packets
    first = datetime.fromtimestamp(0, UTC)
    with run.result.truth.open(newline="") as fh:
        assert tuple(next(csv.reader(fh))) == TRUTH_COLUMNS
    srcs, counts = np.unique(p.src, return_counts=True)
    assert len(srcs) == len(run.truth) == run.result.sources
    inside = (p.dst >> 8) == int(DARKNET.network_address) >> 8
    tcp_syn = (p.proto == 6) & ((p.flags & 0x12) == 0x02)
    for ip, n in zip(srcs, counts, strict=True):
        mine = p.src == ip
        row = run.truth[str(ipaddress.IPv4Address(int(ip)))]
        assert int(row["packets"]) == n
        assert int(row["darknet_packets"]) == (mine & inside).sum()
        assert int(row["outside_packets"]) == (mine & ~inside).sum()
        assert int(row["mirai_packets"]) == (mine & tcp_syn & (p.seq == p.dst)).sum()
        assert int(row["zmap_packets"]) == (mine & (p.ip_id == 54321)).sum()
        t0 = first + timedelta(seconds=float(p.ts[mine].min()))
        assert abs(datetime.fromisoformat(row["first_ts"]) - t0) < timedelta(microseconds=2)
    assert sum(run.result.labels.values()) == len(run.truth)
    assert sum(run.result.label_packets.values()) == run.result.packets
    labels = Counter(r["label"] for r in run.truth.values())
    assert set(labels) == {"infected", "scanner", "research", "backscatter", "noise", "spoofed"}


def test_small_runs_still_have_enough_bots(run: Run) -> None:
    """Even at 20k packets there are >= 20 Mirai bots with >= 3 fingerprinted packets."""
    bots = [
        r for r in run.truth.values() if r["family"] == "mirai" and int(r["mirai_packets"]) >= 3
    ]
    assert len(bots) >= 20
    assert {r["country"] for r in bots} >= {"JP"}


def test_sources_come_from_the_shipped_ranges(run: Run) -> None:
    """Each source lies in its truth prefix, a source_ranges.csv row with the same enrichment."""
    with RANGES.open() as fh:
        rows = {r["prefix"]: r for r in csv.DictReader(x for x in fh if not x.startswith("#"))}
    for ip, row in run.truth.items():
        shipped = rows[row["prefix"]]
        assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(row["prefix"])
        assert (shipped["country"], shipped["as_name"]) == (row["country"], row["as_name"])
    jp = {r["as_name"] for r in run.truth.values() if r["country"] == "JP"}
    assert len(jp) >= 3


def test_bundled_ip_data_agrees_with_the_truth(run: Run) -> None:
    """geoip2fast (the bundled IP data) returns the country and AS name the truth states."""
    from geoip2fast import GeoIP2Fast

    geo = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn.dat.gz")
    rows = [r for r in run.truth.values() if r["label"] in ("infected", "scanner", "backscatter")]
    for row in rows[::5]:
        hit = geo.lookup(row["ip"])
        assert (hit.country_code, hit.asn_name) == (row["country"], row["as_name"])


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    """Output is a function of the arguments: same seed, same bytes; another seed differs."""
    a = simulate(tmp_path / "a.pcap", tmp_path / "a.csv", packets=3_000, seed=11)
    b = simulate(tmp_path / "b.pcap", tmp_path / "b.csv", packets=3_000, seed=11)
    c = simulate(tmp_path / "c.pcap", tmp_path / "c.csv", packets=3_000, seed=12)
    assert a.pcap.read_bytes() == b.pcap.read_bytes()
    assert a.truth.read_bytes() == b.truth.read_bytes()
    assert a.pcap.read_bytes() != c.pcap.read_bytes()


def test_memory_stays_bounded_over_many_chunks(tmp_path: Path) -> None:
    """Writing 8x more packets in fixed-size chunks does not grow peak memory with the size."""

    def peak(n: int) -> tuple[int, int]:
        tracemalloc.start()
        res = simulate(
            tmp_path / f"{n}.pcap", tmp_path / f"{n}.csv", packets=n, chunk_packets=2_000
        )
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top, res.chunks

    small, _ = peak(10_000)
    large, chunks = peak(80_000)
    assert chunks >= 30
    assert large < 2.5 * small


def test_hours_and_darknet_options(tmp_path: Path) -> None:
    """--hours sets the period (count from the rate), custom prefixes receive the traffic."""
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    res = simulate(
        tmp_path / "h.pcap",
        tmp_path / "h.csv",
        hours=0.05,
        darknet=["198.51.100.0/26", "192.0.2.128/27"],
        start=start,
        seed=3,
    )
    assert res.packets == round(96 * 0.05 * 3600)
    assert (res.start, res.end) == (start, start + timedelta(minutes=3))
    p = parse(res.pcap)
    nets = [ipaddress.IPv4Network(n) for n in res.darknet]
    inside = np.array([any(ipaddress.IPv4Address(int(d)) in n for n in nets) for d in p.dst])
    assert inside.sum() == res.packets - res.outside_packets > 0.95 * res.packets
    assert p.ts.min() >= start.timestamp() and p.ts.max() < res.end.timestamp()


def test_tcpdump_reads_the_capture_cleanly(run: Run) -> None:
    """tcpdump (installed by scripts/install-system-deps.sh) reads every record without error."""
    tcpdump = shutil.which("tcpdump") or "/usr/bin/tcpdump"
    proc = subprocess.run(
        [tcpdump, "-r", str(run.result.pcap), "-w", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "truncated" not in proc.stderr and "error" not in proc.stderr.lower()


def test_cli_writes_files_and_rejects_bad_prefixes(tmp_path: Path) -> None:
    """`iotnotice simulate` writes both files; a bad prefix is one error line and exit 1."""
    register(cli)
    runner = CliRunner()
    pcap, truth = tmp_path / "c.pcap", tmp_path / "c.csv"
    args = ["--data-dir", str(tmp_path / "d"), "simulate", str(pcap), "--truth", str(truth)]
    ok = runner.invoke(cli, [*args, "--packets", "2000", "--seed", "4"])
    assert ok.exit_code == 0, ok.output
    assert pcap.stat().st_size > 2000 * 60 and len(read_truth(truth)) > 50
    bad = runner.invoke(cli, [*args, "--packets", "2000", "--darknet", "300.1.2.0/24"])
    assert bad.exit_code == 1
    assert "300.1.2.0/24" in bad.output and "Traceback" not in bad.output


def test_impossible_requests_are_config_errors(tmp_path: Path) -> None:
    """No packets, a negative period, an hour of a /8, or no room for sources: ConfigError."""
    out, truth = tmp_path / "x.pcap", tmp_path / "x.csv"
    for kwargs in (
        {"packets": 0},
        {"hours": -1.0},
        {"hours": 1.0, "darknet": ["10.0.0.0/8"]},
        {"packets": 100, "darknet": ["0.0.0.0/0"]},
    ):
        with pytest.raises(ConfigError):
            simulate(out, truth, **kwargs)  # type: ignore[arg-type]
        assert not out.exists()
