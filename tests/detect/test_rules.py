"""Each rule fires on input that should trigger it and stays quiet on input that should not."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flowstore import DARKNET, T0, flow, syns, write_store
from sqlalchemy import Engine

from iotnotice.db import connect
from iotnotice.detect import DetectionSummary, run_detection
from iotnotice.detect.hosts import get_host, list_hosts
from iotnotice.settings import Settings, load_settings
from iotnotice.store.sensors import add_sensor

NOOPT = {"tcp_synlen": 20, "ttl": 52}  # bot-like: no options, initial TTL 64


def _responses(src: str, n_intervals: int, per: int, **kw: Any) -> list[dict[str, Any]]:
    return [
        flow(src_ip=src, dst_ip=DARKNET + 9, packet_cnt=per, time=T0 + 60 * i, **kw)
        for i in range(n_intervals)
    ]


SOURCES: dict[str, list[dict[str, Any]]] = {
    # rule 4: Mirai fingerprint, on telnet and on an exploit port
    "126.1.1.1": syns("126.1.1.1", 5, mirai_cnt=1, **NOOPT),
    "126.1.1.2": syns("126.1.1.2", 3, ports=[37215], mirai_cnt=1, tcp_synlen=24, ttl=40),
    "126.1.1.3": syns("126.1.1.3", 2, mirai_cnt=1, **NOOPT),  # below mirai_min_packets
    # rule 6: IoT headers without a fingerprint, and near misses
    "153.156.1.1": syns("153.156.1.1", 40, ports=[23, 2323], **NOOPT),
    "153.156.1.2": syns("153.156.1.2", 40, ports=[23, 2323], tcp_synlen=24, ttl=52),
    "153.156.1.3": syns("153.156.1.3", 40, ports=[23, 2323], tcp_synlen=20, ttl=110),
    "153.156.1.4": syns("153.156.1.4", 10, ports=[23], **NOOPT),
    # one chance Masscan match (its 16-bit test) does not make a tool
    "153.156.1.5": syns("153.156.1.5", 39, ports=[5555], **NOOPT)
    + syns("153.156.1.5", 1, ports=[5555], masscan_cnt=1, **NOOPT),
    # rule 5: tool fingerprints (even on IoT ports)
    "133.1.1.1": syns("133.1.1.1", 40, ports=[23], masscan_cnt=1, **NOOPT),
    "133.1.1.2": syns("133.1.1.2", 30, ports=[443], zmap_cnt=1, tcp_synlen=24),
    # rule 7: high fan-out without IoT traits, and a small OS scanner
    "8.8.4.4": syns("8.8.4.4", 150, ports=[443, 8443], tcp_synlen=28, ttl=120),
    "8.8.4.5": syns("8.8.4.5", 5, ports=[443], tcp_synlen=28, ttl=120),
    # rule 1: research networks, even with Mirai-looking packets
    "162.142.125.7": syns("162.142.125.7", 20, mirai_cnt=1, **NOOPT),
    "65.49.20.70": syns("65.49.20.70", 200, ports=[23, 80], tcp_synlen=24),
    # rule 2: spoofed-looking sources are never infected
    "126.9.9.9": syns("126.9.9.9", 20, mirai_cnt=1, spoofed_cnt=1, **NOOPT),
    "10.1.2.3": syns("10.1.2.3", 20, mirai_cnt=1, **NOOPT),
    # rule 3: backscatter of several kinds; corsaro's attack test on and off
    "1.2.3.4": _responses("1.2.3.4", 3, 40, tcp_flags=18, src_port=80),
    "1.2.3.5": _responses("1.2.3.5", 1, 3, tcp_flags=4, src_port=443),
    "1.2.3.6": _responses("1.2.3.6", 3, 20, tcp_flags=18, src_port=80),
    "1.2.3.7": _responses("1.2.3.7", 2, 30, protocol=1, src_port=3, dst_port=3, tcp_flags=0),
    "1.2.3.8": _responses("1.2.3.8", 2, 30, protocol=17, src_port=53, dst_port=40000, tcp_flags=0),
    # rule 8: stray UDP
    "5.6.7.8": [
        flow(
            src_ip="5.6.7.8",
            dst_ip=DARKNET + 1,
            protocol=17,
            dst_port=1900,
            tcp_flags=0,
            tcp_synlen=0,
        )
    ],
}


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Engine, DetectionSummary]:
    data = tmp_path_factory.mktemp("detect") / "data"
    settings = load_settings(environ={}, data_dir=str(data))
    write_store(settings.flows_path, [row for rows in SOURCES.values() for row in rows])
    engine = connect(settings)
    add_sensor(engine, "demo", ["203.0.113.0/24"], since=datetime(2020, 1, 1, tzinfo=UTC))
    return settings, engine, run_detection(settings, engine)


def _host(detected: tuple[Settings, Engine, DetectionSummary], ip: str) -> dict[str, Any]:
    return get_host(detected[1], ip)


def _cls(detected: tuple[Settings, Engine, DetectionSummary], ip: str) -> tuple[str, str | None]:
    h = _host(detected, ip)
    return h["classification"], h["family"]


def test_every_source_is_classified(detected: Any) -> None:
    """One host row per source, and the summary counts agree with the table."""
    assert detected[2].sources == len(SOURCES)
    rows = list_hosts(detected[1])
    assert sorted(r["ip"] for r in rows) == sorted(SOURCES)
    assert detected[2].by_class["infected"] == len(list_hosts(detected[1], "infected"))
    assert detected[2].monitored_addresses == 256


def test_mirai_fingerprint(detected: Any) -> None:
    """>= 3 Mirai SYNs is infected/mirai on any port; 2 is not enough."""
    assert _cls(detected, "126.1.1.1") == ("infected", "mirai")
    assert _cls(detected, "126.1.1.2") == ("infected", "mirai")
    assert _cls(detected, "126.1.1.3")[0] == "noise"
    bot, odd = _host(detected, "126.1.1.1"), _host(detected, "126.1.1.2")
    assert bot["confidence"] > odd["confidence"] >= 0.99
    assert bot["isp"] == "softbank" and bot["asn"] == 17676 and bot["country"] == "JP"
    assert odd["evidence"]["mirai_ports"] == "37215/tcp"
    assert bot["evidence"]["counts"]["mirai_cnt"] == 5


def test_iot_unknown(detected: Any) -> None:
    """Sustained option-less TTL-64 SYNs to IoT ports are iot-unknown; near misses are not."""
    host = _host(detected, "153.156.1.1")
    assert (host["classification"], host["family"]) == ("infected", "iot-unknown")
    assert 0.6 <= host["confidence"] < _host(detected, "126.1.1.1")["confidence"]
    assert host["isp"] == "ntt-com"
    assert _cls(detected, "153.156.1.5") == ("infected", "iot-unknown")
    for ip in ("153.156.1.2", "153.156.1.3", "153.156.1.4"):  # options / TTL 128 / too few
        assert _cls(detected, ip)[0] != "infected", ip


def test_tool_fingerprints(detected: Any) -> None:
    """Masscan and ZMap fingerprints make scanners, even on IoT ports with bot-like headers."""
    assert _cls(detected, "133.1.1.1") == ("scanner", "masscan")
    assert _cls(detected, "133.1.1.2") == ("scanner", "zmap")


def test_high_fanout_scanner(detected: Any) -> None:
    """150 destinations without IoT traits is a scanner; 5 is noise."""
    assert _cls(detected, "8.8.4.4") == ("scanner", "unknown")
    assert _cls(detected, "8.8.4.5") == ("noise", "tcp")
    assert _host(detected, "8.8.4.4")["evidence"]["ttl"] == {"mode": 120, "initial": 128, "hops": 8}


def test_research_networks(detected: Any) -> None:
    """Censys and Shadowserver sources are research, whatever they send."""
    assert _cls(detected, "162.142.125.7") == ("research", "Censys")
    assert _cls(detected, "65.49.20.70") == ("research", "The Shadowserver Foundation")
    assert "censys" in _host(detected, "162.142.125.7")["evidence"]["research"]["source"]


def test_spoofed_never_infected(detected: Any) -> None:
    """Spoofing-flagged and private-space sources are noise/spoofed despite Mirai SYNs."""
    assert _cls(detected, "126.9.9.9") == ("noise", "spoofed")
    assert _cls(detected, "10.1.2.3") == ("noise", "spoofed")


def test_backscatter(detected: Any) -> None:
    """SYN-ACK/RST/ICMP/DNS responses are backscatter; corsaro's attack test sets confidence."""
    assert _cls(detected, "1.2.3.4") == ("backscatter", "syn-ack")
    assert _cls(detected, "1.2.3.5") == ("backscatter", "rst")
    assert _cls(detected, "1.2.3.7") == ("backscatter", "icmp")
    assert _cls(detected, "1.2.3.8") == ("backscatter", "dns")
    assert _host(detected, "1.2.3.4")["confidence"] == 0.95  # 120 pkts, 120 s, 40 per minute
    assert _host(detected, "1.2.3.5")["confidence"] == 0.7  # 3 packets
    assert _host(detected, "1.2.3.6")["confidence"] == 0.7  # 20 per minute < 30


def test_noise(detected: Any) -> None:
    """A single stray UDP packet is noise."""
    assert _cls(detected, "5.6.7.8") == ("noise", "udp")


def test_scan_rate_uses_sensor_prefixes(detected: Any) -> None:
    """Scan rate = packets x 2^32 / monitored addresses / active seconds."""
    ev = _host(detected, "8.8.4.4")["evidence"]
    assert ev["monitored_addresses"] == 256
    assert ev["scan_rate_pps"] == pytest.approx(150 * 2**32 / 256 / ev["active_seconds"], rel=1e-3)


def test_thresholds_come_from_settings(tmp_path: Path) -> None:
    """Raising mirai_min_packets demotes a bot; the window excludes older flows."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "d"), mirai_min_packets=10)
    write_store(
        settings.flows_path,
        SOURCES["126.1.1.1"] + syns("126.2.2.2", 12, mirai_cnt=1, start=T0 + 7200, **NOOPT),
    )
    engine = connect(settings)
    summary = run_detection(settings, engine)
    assert get_host(engine, "126.1.1.1")["classification"] == "noise"
    assert get_host(engine, "126.2.2.2")["classification"] == "infected"
    assert summary.monitored_addresses == 12  # no sensors: distinct destinations seen
    run_detection(settings, engine, since=datetime.fromtimestamp(T0 + 3600, UTC))
    assert [h["ip"] for h in list_hosts(engine)] == ["126.2.2.2"]  # replaced, not appended


def test_ipv6_sources(settings: Settings) -> None:
    """IPv6 sources are classified and enriched from the IPv6 tables."""
    src6 = ipaddress.IPv6Address("2400:4050::1").packed
    dark6 = int(ipaddress.IPv6Address("2001:db8:ffff::"))
    rows = [
        flow(
            src_ip=0,
            dst_ip=0,
            src_ip6=src6,
            dst_ip6=(dark6 + i).to_bytes(16, "big"),
            dst_port=23,
            time=T0 + 60 * i,
            **NOOPT,
        )
        for i in range(30)
    ]
    write_store(settings.flows_path, rows)
    engine = connect(settings)
    run_detection(settings, engine)
    host = get_host(engine, "2400:4050::1")
    assert (host["classification"], host["family"]) == ("infected", "iot-unknown")
    assert (host["as_name"], host["country"], host["isp"]) == (
        "NTT Communications Corporation",
        "JP",
        "ntt-com",
    )
    assert host["evidence"]["routed_prefix"] == "2400:4050::/32"
    assert host["evidence"]["counts"]["destinations"] == 30
