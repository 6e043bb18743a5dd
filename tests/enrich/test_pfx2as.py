"""RouteViews pfx2as and pyasn IPASN files: longest-prefix match, settings, errors, end to end."""

from __future__ import annotations

import bz2
import gzip
import ipaddress
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iotnotice.db import connect
from iotnotice.detect import run_detection
from iotnotice.detect.hosts import get_host
from iotnotice.enrich.ipdata import load_ip_data
from iotnotice.enrich.pfx2as import is_pfx2as_path, read_routes
from iotnotice.enrich.registry import load_registry
from iotnotice.errors import ConfigError
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings

Table = list[tuple[int, int, str]]  # (network, length, AS field as written)


def _table(seed: int = 3) -> Table:
    """Random nested prefixes in a few /8s, with MOAS and AS-set fields among them."""
    rng = np.random.default_rng(seed)
    rows: Table = []
    for top in (10, 41, 126, 203):
        base = top << 24
        rows.append((base, 8, str(64500 + top)))
        for _ in range(60):
            length = int(rng.integers(9, 31))
            net = (base | int(rng.integers(0, 2**24))) >> (32 - length) << (32 - length)
            a, b = (int(x) for x in rng.integers(1, 400_000, 2))
            field = [str(a), f"{a}_{b}", f"{a},{b}", f"{{{a},{b}}}", f"{a}_{b},7"][
                int(rng.integers(0, 5))
            ]
            rows.append((net, length, field))
    return rows


def _dotted(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


def _caida(rows: Table) -> str:
    return "".join(f"{_dotted(n)}\t{ln}\t{f}\n" for n, ln, f in rows)


def _pyasn(rows: Table) -> str:
    """The IP-ASN32-DAT layout pyasn_util_convert.py writes (header of ';' comments)."""
    head = "; IP-ASN32-DAT file\n; Original source: test\n; Prefixes-v4   : 1\n;\n"
    return head + "".join(f"{_dotted(n)}/{ln}\t{_first_as(f)}\n" for n, ln, f in rows)


def _first_as(field: str) -> int:
    return int(field.strip("{").split("_")[0].split(",")[0])


def _reference(rows: Table, ips: np.ndarray) -> tuple[list[int], list[str | None]]:
    """Brute force: every prefix checked for every address; the longest covering one wins."""
    nets = np.array([n for n, _, _ in rows], np.uint64)
    lens = np.array([ln for _, ln, _ in rows], np.uint64)
    masks = ((np.uint64(2**32 - 1) << (np.uint64(32) - lens)) & np.uint64(2**32 - 1)).astype(
        np.uint64
    )
    asns, prefixes = [], []
    for ip in ips.astype(np.uint64):
        hit = np.flatnonzero((ip & masks) == nets)
        if len(hit) == 0:
            asns.append(-1)
            prefixes.append(None)
            continue
        best = hit[np.argmax(lens[hit] * 1000 + hit)]  # longest; a repeated prefix: last line
        asns.append(_first_as(rows[best][2]))
        prefixes.append(f"{_dotted(int(nets[best]))}/{int(lens[best])}")
    return asns, prefixes


def _addresses(rows: Table, n: int = 3000, seed: int = 9) -> np.ndarray:
    """Random addresses, most inside the table's /8s and some right at prefix edges."""
    rng = np.random.default_rng(seed)
    tops = np.array([10, 41, 126, 203, 8, 200], np.uint32)
    ips = (tops[rng.integers(0, len(tops), n)] << np.uint32(24)) | rng.integers(
        0, 2**24, n, dtype=np.uint64
    ).astype(np.uint32)
    edges = [net for net, _, _ in rows[:200]] + [
        net + (1 << (32 - ln)) - 1 for net, ln, _ in rows[:200]
    ]
    return np.concatenate((ips, np.array(edges, np.uint32)))


def test_longest_prefix_matches_brute_force(tmp_path: Path, settings: Settings) -> None:
    """AS numbers and prefixes of 3,400 addresses equal a brute-force longest-prefix match."""
    rows = _table()
    path = tmp_path / "routeviews-rv2-20261101-1200.pfx2as"
    path.write_text(_caida(rows))
    ips = _addresses(rows)
    got = load_ip_data(settings.replace(ip_data=str(path))).lookup(ips)
    want_asn, want_prefix = _reference(rows, ips)
    assert got.asn.tolist() == want_asn
    assert got.prefix.tolist() == want_prefix
    assert sum(a >= 0 for a in want_asn) > 2000  # most addresses are routed ...
    assert sum(p is not None and not p.endswith("/8") for p in want_prefix) > 300  # ... nested
    assert all(c is None for c in got.country) and all(n is None for n in got.as_name)


def test_multi_origin_and_as_sets_take_the_first_as(tmp_path: Path, settings: Settings) -> None:
    """'a_b' (MOAS), 'a,b' and '{a,b}' (AS sets) map to a; a repeated prefix keeps its last AS."""
    path = tmp_path / "x.pfx2as"
    path.write_text(
        "1.0.0.0\t24\t13335_64512\n1.0.4.0\t22\t38803,56203\n1.0.8.0\t21\t{4134,4812}\n"
        "1.0.16.0\t24\t2519_{64500,64501}\n1.0.32.0\t24\t111\n1.0.32.0\t24\t222\n"
        "1.0.64.0\t24\t0\n0.0.0.0\t0\t3356\n"
    )
    got = load_ip_data(settings.replace(ip_data=str(path))).lookup_text(
        ["1.0.0.9", "1.0.5.1", "1.0.9.1", "1.0.16.1", "1.0.32.1", "1.0.64.1", "9.9.9.9"]
    )
    # AS 0 (never a valid origin) and the default route are left out.
    assert got.asn.tolist() == [13335, 38803, 4134, 2519, 222, -1, -1]


def test_pyasn_format_and_compression(tmp_path: Path, settings: Settings) -> None:
    """pyasn's IPASN layout (';' comments) and gzip/bzip2 files give the same answers as CAIDA's."""
    rows = _table(seed=5)
    plain = tmp_path / "routeviews-rv2-20261101-1200.pfx2as"
    plain.write_text(_caida(rows))
    packed = tmp_path / "ipasn_20261101.dat.gz"
    packed.write_bytes(gzip.compress(_pyasn(rows).encode()))
    other = tmp_path / "table.txt"  # any name, chosen with the pfx2as: prefix; bzip2 inside
    other.write_bytes(bz2.compress(("# comment\n\n" + _caida(rows)).encode()))
    ips = _addresses(rows, seed=11)
    results = [
        load_ip_data(settings.replace(ip_data=source)).lookup(ips)
        for source in (str(plain), str(packed), f"pfx2as:{other}")
    ]
    for got in results[1:]:
        assert got.asn.tolist() == results[0].asn.tolist()
        assert got.prefix.tolist() == results[0].prefix.tolist()
    assert (results[0].asn >= 0).sum() > 2000


def test_ipv6_routes(tmp_path: Path, settings: Settings) -> None:
    """An rv6 file answers IPv6 lookups, nested prefixes included; IPv4 data stays bundled."""
    path = tmp_path / "routeviews-rv6-20261101-1200.pfx2as.gz"
    path.write_bytes(
        gzip.compress(
            b"2001:db8::\t32\t64500\n2001:db8:1::\t48\t64501_64502\n2400:4050::\t32\t4713\n"
        )
    )
    data = load_ip_data(settings.replace(ip_data=f"bundled,{path}"), ipv6=True)
    got = data.lookup_text(["2001:db8::1", "2001:db8:1:2::3", "2001:db8:2::1", "2400:4050:1::1"])
    assert got.asn.tolist() == [64500, 64501, 64500, 4713]
    assert got.prefix.tolist() == [
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8::/32",
        "2400:4050::/32",
    ]
    assert data.lookup_text(["126.1.1.1"]).as_name[0] == "SoftBank Corp."


def test_settings_select_and_combine(tmp_path: Path, settings: Settings) -> None:
    """'bundled,FILE' keeps bundled countries and names and takes AS numbers from the file."""
    assert is_pfx2as_path("/d/routeviews-rv2-20250101-1200.pfx2as.gz")
    assert is_pfx2as_path("ipasn_20140513.dat.bz2") and is_pfx2as_path("pfx2as:/d/t.txt")
    assert not is_pfx2as_path("/d/GeoLite2-ASN.mmdb")
    assert not is_pfx2as_path("geoip2fast-asn.dat.gz")
    path = tmp_path / "routeviews-rv2-20261101-1200.pfx2as"
    path.write_text("126.0.0.0\t8\t64500\n126.1.0.0\t16\t17676\n198.51.100.0\t24\t64501\n")
    data = load_ip_data(settings.replace(ip_data=f"bundled, {path}"))
    got = data.lookup_text(["126.1.1.1", "126.200.0.1", "198.51.100.5", "8.8.8.8", "10.0.0.1"])
    assert got.asn.tolist() == [17676, 64500, 64501, 15169, -1]
    assert got.prefix.tolist()[:3] == ["126.1.0.0/16", "126.0.0.0/8", "198.51.100.0/24"]
    assert got.as_name.tolist()[:2] == ["SoftBank Corp.", "SoftBank Corp."]
    assert got.as_name[2] is None and got.as_name[3] == "GOOGLE"
    assert got.country.tolist()[:4] == ["JP", "JP", None, "US"]
    assert got.reserved.tolist() == [False, False, False, False, True]
    assert "pfx2as routeviews-rv2-20261101-1200.pfx2as (3 prefixes)" in data.source
    with pytest.raises(ConfigError, match="expected 'bundled'"):
        load_ip_data(settings.replace(ip_data=f"bundled,{tmp_path / 'x.csv'}"))
    with pytest.raises(ConfigError, match="not found"):
        load_ip_data(settings.replace(ip_data=str(tmp_path / "missing.pfx2as")))


def test_malformed_line_names_file_and_line(tmp_path: Path, settings: Settings) -> None:
    """A malformed line fails the load with file:line, the text and the count of bad lines."""
    path = tmp_path / "bad.pfx2as"
    good = "1.0.0.0\t24\t13335\n"
    for bad in ("1.0.0\t24\t13335", "1.0.0.300\t24\t1", "1.0.0.0\t33\t1", "1.0.0.0\t24\tAS1"):
        path.write_text(f"; header\n{good}{bad}\n{good}")
        text = re.escape(repr(bad))  # tabs shown as \t
        with pytest.raises(ConfigError, match=rf"bad\.pfx2as:3: malformed pfx2as line {text}"):
            read_routes(path)
    path.write_text(f"{good}1.2.3.4\n{good}junk junk\n")
    with pytest.raises(ConfigError, match=r":2: .*2 malformed lines in all"):
        read_routes(path)
    path.write_text("2001:db8::\t32\t1\nzz::\t32\t1\n")
    assert len(read_routes(path)[0]) == 0  # IPv6 lines are only read when IPv6 is asked for
    with pytest.raises(ConfigError, match=r":2: malformed pfx2as line 'zz::"):
        read_routes(path, ipv6=True)
    path.write_text("; only comments\n")
    with pytest.raises(ConfigError, match="no prefixes"):
        read_routes(path)
    path.write_bytes(gzip.compress(b"1.0.0.0\t24\t1\n")[:-6])
    with pytest.raises(ConfigError, match="unreadable compressed"):
        read_routes(path)


T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
REGISTRY = """
[[isp]]
name = "alpha"
asns = [64500]
contacts = ["abuse@alpha.example"]

[[isp]]
name = "beta"
asns = [64501]
contacts = ["abuse@beta.example"]
"""


def _mirai_flows(sources: list[str], flows_root: Path) -> None:
    """Five Mirai-fingerprinted SYNs per source, in the flow store's Parquet layout."""
    rows = []
    for src in sources:
        for i in range(5):
            row = {c.name: 0 for c in FLOW_TUPLE}
            row.update(
                time=T0 + 60 * i,
                src_ip=int(ipaddress.IPv4Address(src)),
                dst_ip=int(ipaddress.IPv4Address("203.0.113.0")) + i,
                dst_port=23,
                protocol=6,
                ttl=52,
                tcp_flags=2,
                ip_len=40,
                tcp_synlen=20,
                packet_cnt=1,
                mirai_cnt=1,
                src_ip6=None,
                dst_ip6=None,
            )
            rows.append(row)
    folder = flows_root / "sensor=demo" / "date=2026-11-01" / "hour=00"
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=arrow_schema(FLOW_TUPLE))
    pq.write_table(table, folder / "test-0.parquet")


def test_hosts_get_as_numbers_and_isps_from_pfx2as(tmp_path: Path, settings: Settings) -> None:
    """Detection with 'bundled,pfx2as': infected hosts carry the file's ASNs and their ISPs."""
    from iotnotice.store.sensors import add_sensor

    table = tmp_path / "routeviews-rv2-20261101-1200.pfx2as.gz"
    table.write_bytes(gzip.compress(b"41.0.0.0\t8\t64500\n41.0.0.0\t16\t64501_64502\n"))
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY)
    sources = ["41.0.0.1", "41.1.0.1", "126.1.1.1"]
    bundled_only = settings.replace(isp_registry=str(registry))
    before = load_ip_data(bundled_only).lookup_text(sources)
    assert before.asn.tolist()[:2] == [-1, -1]  # the gap pfx2as fills: no AS numbers there
    settings = bundled_only.replace(ip_data=f"bundled,{table}")
    _mirai_flows(sources, settings.flows_path)
    engine = connect(settings)
    add_sensor(engine, "demo", ["203.0.113.0/24"], since=datetime(2020, 1, 1, tzinfo=UTC))
    summary = run_detection(settings, engine)
    assert summary.by_class["infected"] == 3
    hosts = {ip: get_host(engine, ip) for ip in sources}
    assert [(hosts[ip]["asn"], hosts[ip]["isp"]) for ip in sources] == [
        (64501, "beta"),
        (64500, "alpha"),
        (17676, None),  # no route in the file: bundled name -> number; not in this registry
    ]
    assert hosts["41.0.0.1"]["country"] == before.country[0] is not None
    assert hosts["126.1.1.1"]["as_name"] == "SoftBank Corp."
    assert load_registry(settings).match(64501, None) == "beta"
    engine.dispose()
