"""Reader tests: every container, link type, protocol and damage case, on captures built here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pcapbuild import (
    compress,
    ethernet,
    icmp,
    ip4,
    ipv4,
    ipv6,
    null_loop,
    pcap_bytes,
    pcapng_epb,
    pcapng_idb,
    pcapng_shb,
    pcapng_spb,
    pcapng_unknown,
    sll,
    sll2,
    tcp,
    udp,
    write,
)

from iotnotice.capture.reader import PacketChunk, read_chunks
from iotnotice.errors import InputError
from iotnotice.schemas import FP_MASSCAN, FP_MIRAI, FP_QUIRK, FP_SPOOFED, FP_ZMAP, PACKET

T0 = 1_700_000_000


def read_all(path: Path, chunk: int = 1000) -> dict[str, np.ndarray]:
    chunks = list(read_chunks(path, chunk))
    return _concat(chunks)


def _concat(chunks: list[PacketChunk]) -> dict[str, np.ndarray]:
    out = {c.name: np.concatenate([ch.columns[c.name] for ch in chunks]) for c in PACKET}
    out["src_ip6"] = np.concatenate([ch.src_ip6 for ch in chunks])
    out["frames"] = np.array([sum(ch.frames for ch in chunks)])
    out["non_ip"] = np.array([sum(ch.non_ip for ch in chunks)])
    return out


def syn4(src: str = "198.51.100.7", dst: str = "203.0.113.9", **kw: int) -> bytes:
    return ipv4(src, dst, tcp(sport=40001, dport=2323, seq=kw.pop("seq", 77), **kw), ttl=50)


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, big: bool, nano: bool) -> None:
    """Both magics in both byte orders give the same packets and exact timestamps."""
    recs = [(T0 + 0.25, ethernet(syn4())), (T0 + 1.5, ethernet(syn4(dst="203.0.113.10")))]
    got = read_all(write(tmp_path / "a.pcap", pcap_bytes(recs, big=big, nano=nano)))
    assert got["ts"].tolist() == [T0 * 10**9 + 250_000_000, (T0 + 1) * 10**9 + 500_000_000]
    assert got["dst_ip"].tolist() == [ip4("203.0.113.9"), ip4("203.0.113.10")]
    assert got["src_ip"].tolist() == [ip4("198.51.100.7")] * 2
    assert got["src_port"].tolist() == [40001, 40001]
    assert got["dst_port"].tolist() == [2323, 2323]
    assert got["ttl"].tolist() == [50, 50]
    assert got["protocol"].tolist() == [6, 6]
    assert got["tcp_flags"].tolist() == [2, 2]
    assert got["ip_len"].tolist() == [40, 40]


V4 = ipv4("198.51.100.7", "203.0.113.9", tcp(sport=1111, dport=23, seq=5))
V6 = ipv6("2001:db8::1", "2001:db8:ffff::2", tcp(sport=2222, dport=80, seq=6))

LINKS: dict[str, tuple[int, Callable[[bytes], bytes], tuple[bytes, ...]]] = {
    "ethernet": (1, ethernet, (V4, V6)),
    "802.1q": (1, lambda ip: ethernet(ip, vlans=[(0x8100, 10)]), (V4, V6)),
    "802.1ad-qinq": (1, lambda ip: ethernet(ip, vlans=[(0x88A8, 100), (0x8100, 10)]), (V4, V6)),
    "raw-101": (101, lambda ip: ip, (V4, V6)),
    "raw-12": (12, lambda ip: ip, (V4, V6)),
    "raw-14": (14, lambda ip: ip, (V4, V6)),
    "ipv4-228": (228, lambda ip: ip, (V4,)),
    "ipv6-229": (229, lambda ip: ip, (V6,)),
    "sll-113": (113, sll, (V4, V6)),
    "sll2-276": (276, sll2, (V4, V6)),
    "null-le": (0, lambda ip: null_loop(ip, big=False), (V4, V6)),
    "null-be": (0, lambda ip: null_loop(ip, big=True), (V4, V6)),
    "null-linux-v6": (
        0,
        lambda ip: null_loop(ip, big=False, family=10 if ip[0] >> 4 == 6 else 2),
        (V4, V6),
    ),
    "loop-108": (108, lambda ip: null_loop(ip, big=True), (V4, V6)),
}


@pytest.mark.parametrize("name", sorted(LINKS))
def test_link_types(tmp_path: Path, name: str) -> None:
    """Every supported link type yields the IP packets inside it, IPv4 and IPv6."""
    linktype, wrap, packets = LINKS[name]
    recs = [(T0 + i, wrap(ip)) for i, ip in enumerate(packets)]
    got = read_all(write(tmp_path / "l.pcap", pcap_bytes(recs, linktype=linktype)))
    expected_ports = {V4: (1111, 23, 4), V6: (2222, 80, 6)}
    assert got["frames"][0] == len(packets)
    assert got["non_ip"][0] == 0
    for row, ip in enumerate(packets):
        sport, dport, version = expected_ports[ip]
        assert (got["src_port"][row], got["dst_port"][row]) == (sport, dport)
        assert got["ip_version"][row] == version
    if V4 in packets:
        assert got["dst_ip"][packets.index(V4)] == ip4("203.0.113.9")
    if V6 in packets:
        row = packets.index(V6)
        assert bytes(got["src_ip6"][row]) == bytes.fromhex("20010db8" + "0" * 23 + "1")
        assert got["ip_len"][row] == 60


def test_non_ip_frames_are_counted_not_decoded(tmp_path: Path) -> None:
    """ARP and unknown link types count as frames without IP, and produce no rows."""
    arp = ethernet(b"\x00" * 28, ethertype=0x0806)
    recs = [(T0, arp), (T0 + 1, ethernet(V4)), (T0 + 2, b"\x00" * 10)]
    got = read_all(write(tmp_path / "n.pcap", pcap_bytes(recs)))
    assert got["frames"][0] == 3
    assert got["non_ip"][0] == 2
    assert got["dst_port"].tolist() == [23]


def test_ipv4_options_and_fragments(tmp_path: Path) -> None:
    """IPv4 options are skipped; only a first fragment carries ports."""
    opts = b"\x01\x01\x01\x00"  # NOP NOP NOP EOL
    with_opts = ipv4("198.51.100.1", "203.0.113.1", udp(1000, 53), proto=17, options=opts)
    first = ipv4("198.51.100.2", "203.0.113.2", udp(2000, 161), proto=17, more_fragments=True)
    later = ipv4("198.51.100.3", "203.0.113.3", udp(3000, 162), proto=17, frag_offset=185)
    recs = [(T0, ethernet(p)) for p in (with_opts, first, later)]
    got = read_all(write(tmp_path / "f.pcap", pcap_bytes(recs)))
    assert got["src_port"].tolist() == [1000, 2000, 0]
    assert got["dst_port"].tolist() == [53, 161, 0]
    assert got["protocol"].tolist() == [17, 17, 17]
    assert got["ip_len"].tolist() == [36, 32, 32]


def test_ipv6_extension_headers(tmp_path: Path) -> None:
    """Hop-by-hop, destination-options and fragment headers are walked to the transport header."""
    seg = tcp(sport=3333, dport=8080, seq=9)
    hop = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: dest options, 8 bytes
    dest = bytes([44, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: fragment
    frag_first = bytes([6, 0, 0, 1]) + b"\x00\x00\x00\x2a"  # offset 0, M=1
    frag_later = bytes([6, 0, 0x01, 0x00]) + b"\x00\x00\x00\x2a"  # offset 32
    a = ipv6("2001:db8::1", "2001:db8::2", hop + dest + frag_first + seg, next_header=0)
    b = ipv6("2001:db8::1", "2001:db8::2", frag_later + seg, next_header=44)
    got = read_all(write(tmp_path / "x.pcap", pcap_bytes([(T0, ethernet(a)), (T0, ethernet(b))])))
    assert got["protocol"].tolist() == [6, 6]
    assert got["src_port"].tolist() == [3333, 0]
    assert got["dst_port"].tolist() == [8080, 0]
    assert got["ip_len"].tolist() == [40 + len(hop + dest + frag_first + seg), 40 + 8 + len(seg)]


def test_transport_protocols(tmp_path: Path) -> None:
    """UDP ports, ICMP and ICMPv6 type/code in the port columns, other protocols by number."""
    pkts = [
        ipv4("198.51.100.1", "203.0.113.1", udp(5000, 1900), proto=17),
        ipv4("198.51.100.1", "203.0.113.1", icmp(8, 0), proto=1),
        ipv4("198.51.100.1", "203.0.113.1", icmp(3, 13), proto=1),
        ipv6("2001:db8::1", "2001:db8::2", icmp(128, 0), next_header=58),
        ipv4("198.51.100.1", "203.0.113.1", b"\x00" * 8, proto=47),
    ]
    got = read_all(write(tmp_path / "p.pcap", pcap_bytes([(T0, ethernet(p)) for p in pkts])))
    assert got["protocol"].tolist() == [17, 1, 1, 58, 47]
    assert got["src_port"].tolist() == [5000, 8, 3, 128, 0]
    assert got["dst_port"].tolist() == [1900, 0, 13, 0, 0]
    assert got["tcp_flags"].tolist() == [0, 0, 0, 0, 0]


def test_snaplen_cut_packets_are_decoded(tmp_path: Path) -> None:
    """A frame cut by the snap length keeps what was captured (ports, flags) and the IP length."""
    big = ipv4("198.51.100.1", "203.0.113.1", tcp(sport=1, dport=445, seq=3) + b"x" * 1000)
    got = read_all(write(tmp_path / "s.pcap", pcap_bytes([(T0, ethernet(big))], snaplen=48)))
    assert got["dst_port"].tolist() == [445]
    assert got["tcp_flags"].tolist() == [2]
    assert got["ip_len"].tolist() == [1040]
    cut = read_all(write(tmp_path / "t.pcap", pcap_bytes([(T0, ethernet(big))], snaplen=38)))
    assert cut["dst_port"].tolist() == [445]
    assert cut["tcp_flags"].tolist() == [0]


def test_fingerprints(tmp_path: Path) -> None:
    """Mirai, Masscan (both tests), ZMap, spoofing and the Mirai data-offset quirk are flagged."""
    dst = "203.0.113.77"
    d = ip4(dst)
    mss = b"\x02\x04\x05\xb4"
    masscan_id = (d ^ 80 ^ 12345) & 0xFFFF
    pkts = [
        ipv4("198.51.100.1", dst, tcp(dport=23, seq=d, window=14600)),
        ipv4("198.51.100.2", dst, tcp(dport=80, seq=12345), ip_id=masscan_id, ttl=255),
        ipv4("198.51.100.3", dst, tcp(dport=22, seq=1, window=1024), ttl=250),
        ipv4("198.51.100.4", dst, tcp(dport=443, seq=2, options=mss), ip_id=54321),
        ipv4("127.0.0.1", dst, udp(), proto=17),
        ipv4(dst, dst, udp(), proto=17),
        ipv4("240.0.0.1", dst, udp(), proto=17),
        ipv4("198.51.100.5", dst, tcp(dport=23, seq=d, doff=15), total_len=40),
        ipv4("198.51.100.6", dst, tcp(dport=443, seq=3, options=mss, window=64240)),
        ipv4("198.51.100.7", dst, tcp(dport=23, seq=d, flags=0x12)),
    ]
    got = read_all(write(tmp_path / "fp.pcap", pcap_bytes([(T0, ethernet(p)) for p in pkts])))
    fp = got["fingerprints"].tolist()
    assert fp[0] == FP_MIRAI
    assert fp[1] == FP_MASSCAN
    assert fp[2] == FP_MASSCAN
    assert fp[3] == FP_ZMAP
    assert fp[4] == fp[5] == fp[6] == FP_SPOOFED
    assert fp[7] == FP_MIRAI | FP_QUIRK
    assert fp[8] == 0
    assert fp[9] == 0  # a SYN-ACK is backscatter, not a Mirai probe
    assert got["tcp_synlen"].tolist()[:4] == [20, 20, 20, 24]
    assert got["tcp_synwinlen"].tolist()[:3] == [14600, 5840, 1024]
    assert got["tcp_synlen"][4] == 0
    assert got["tcp_synlen"][7] == 60
    assert got["ip_id"][3] == 54321
    assert got["tcp_seq"][0] == d


def test_ipv6_spoofing_heuristics(tmp_path: Path) -> None:
    """IPv6 sources ::, ::1, multicast, or equal to the destination are flagged spoofed."""
    seg = udp()
    pkts = [
        ipv6("::1", "2001:db8::2", seg, 17),
        ipv6("ff02::1", "2001:db8::2", seg, 17),
        ipv6("2001:db8::2", "2001:db8::2", seg, 17),
        ipv6("2001:db8::3", "2001:db8::2", seg, 17),
    ]
    got = read_all(write(tmp_path / "s6.pcap", pcap_bytes([(T0, ethernet(p)) for p in pkts])))
    assert got["fingerprints"].tolist() == [FP_SPOOFED] * 3 + [0]


def test_chunks_split_the_stream(tmp_path: Path) -> None:
    """Small chunks give the same packets, in order, as one large chunk."""
    recs = [(T0 + i, ethernet(syn4(dst=f"203.0.113.{i % 250}"))) for i in range(1000)]
    path = write(tmp_path / "c.pcap", pcap_bytes(recs))
    chunks = list(read_chunks(path, 300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size
    assert np.array_equal(_concat(chunks)["dst_ip"], read_all(path)["dst_ip"])


def _pcapng(big: bool) -> bytes:
    eth = ethernet(syn4(dst="203.0.113.1"))
    raw = ipv6("2001:db8::1", "2001:db8::2", udp(1, 2), 17)
    return b"".join(
        [
            pcapng_shb(big),
            pcapng_idb(1, big=big),  # microseconds (default)
            pcapng_unknown(big),
            pcapng_idb(101, tsresol=9, big=big),  # nanoseconds
            pcapng_idb(228, tsresol=0x80 | 10, big=big),  # 2^-10 seconds
            pcapng_epb(0, T0 * 10**6 + 5, eth, big),
            pcapng_epb(1, T0 * 10**9 + 7, raw, big),
            pcapng_epb(2, T0 * 1024 + 512, syn4(dst="203.0.113.3"), big),
            pcapng_spb(eth, big),
        ]
    )


@pytest.mark.parametrize("big", [False, True])
def test_pcapng_interfaces_resolutions_and_blocks(tmp_path: Path, big: bool) -> None:
    """pcapng: several interfaces with their own link type and if_tsresol, SPB, unknown blocks."""
    got = read_all(write(tmp_path / "a.pcapng", _pcapng(big)))
    assert got["ts"].tolist() == [
        T0 * 10**9 + 5000,
        T0 * 10**9 + 7,
        T0 * 10**9 + 500_000_000,
        T0 * 10**9 + 500_000_000,
    ]
    assert got["ip_version"].tolist() == [4, 6, 4, 4]
    assert got["dst_ip"].tolist() == [ip4("203.0.113.1"), 0, ip4("203.0.113.3"), ip4("203.0.113.1")]
    assert got["protocol"].tolist() == [6, 17, 6, 6]


def test_pcapng_sections_switch_byte_order(tmp_path: Path) -> None:
    """A second section in the other byte order restarts the interface table."""
    data = _pcapng(False) + _pcapng(True)
    got = read_all(write(tmp_path / "two.pcapng", data))
    assert len(got["ts"]) == 8
    assert got["ip_version"].tolist() == [4, 6, 4, 4] * 2


@pytest.mark.parametrize("codec", ["gzip", "xz", "zstd", "bzip2"])
def test_compressed_captures(tmp_path: Path, codec: str) -> None:
    """Compressed pcap and pcapng decode exactly like the plain files."""
    recs = [(T0 + i / 7, ethernet(syn4(dst=f"203.0.113.{i % 200}"))) for i in range(3000)]
    plain = pcap_bytes(recs)
    want = read_all(write(tmp_path / "p.pcap", plain))
    got = read_all(write(tmp_path / f"p.pcap.{codec}", compress(plain, codec)), chunk=700)
    for name in ("ts", "dst_ip", "dst_port", "fingerprints"):
        assert np.array_equal(got[name], want[name])
    ng = read_all(write(tmp_path / f"a.pcapng.{codec}", compress(_pcapng(True), codec)))
    assert ng["ip_version"].tolist() == [4, 6, 4, 4]


def test_wrong_magic(tmp_path: Path) -> None:
    """A file that is not a capture raises InputError at offset 0 and yields nothing."""
    path = write(tmp_path / "x.txt", b"hello, this is not a capture file at all")
    with pytest.raises(InputError, match="not a pcap") as err:
        list(read_chunks(path, 100))
    assert err.value.offset == 0
    with pytest.raises(InputError, match="no such file"):
        list(read_chunks(tmp_path / "missing.pcap", 100))


def _collect_until_error(path: Path, chunk: int = 1000) -> tuple[int, InputError]:
    rows = 0
    with pytest.raises(InputError) as err:
        for c in read_chunks(path, chunk):
            rows += len(c)
    return rows, err.value


def test_truncated_record_keeps_good_packets(tmp_path: Path) -> None:
    """A file cut mid-record yields every complete packet, then names the record's offset."""
    recs = [(T0 + i, ethernet(syn4())) for i in range(10)]
    data = pcap_bytes(recs)
    record = (len(data) - 24) // 10
    path = write(tmp_path / "t.pcap", data[: 24 + 7 * record + 20])
    rows, err = _collect_until_error(path, 3)
    assert rows == 7
    assert err.offset == 24 + 7 * record
    assert "truncated" in err.reason


def test_absurd_caplen(tmp_path: Path) -> None:
    """A record claiming a huge captured length stops the file with its offset."""
    good = pcap_bytes([(T0, ethernet(syn4()))] * 3)
    bogus = b"\x00" * 8 + (0x7FFFFFF0).to_bytes(4, "little") * 2 + b"\x00" * 64
    rows, err = _collect_until_error(write(tmp_path / "a.pcap", good + bogus))
    assert rows == 3
    assert err.offset == len(good)
    assert "impossible" in err.reason


def test_broken_pcapng_block(tmp_path: Path) -> None:
    """A pcapng block with a nonsense length is damage at that block."""
    data = _pcapng(False)
    broken = data + (6).to_bytes(4, "little") + (7).to_bytes(4, "little") + b"\x00" * 16
    rows, err = _collect_until_error(write(tmp_path / "b.pcapng", broken))
    assert rows == 4
    assert err.offset == len(data)


@pytest.mark.parametrize("codec", ["gzip", "xz", "bzip2", "zstd"])
def test_corrupt_or_cut_compression(tmp_path: Path, codec: str) -> None:
    """Corrupt or cut-off compressed input raises InputError, never a codec exception."""
    recs = [(T0 + i, ethernet(syn4(dst=f"203.0.113.{i % 250}", seq=i))) for i in range(20000)]
    packed = compress(pcap_bytes(recs), codec)
    cut = write(tmp_path / f"cut.{codec}", packed[: len(packed) // 2])
    rows, err = _collect_until_error(cut)
    assert rows < 20000
    assert err.offset is not None
    mangled = bytearray(packed)
    for k in range(len(packed) // 3, len(packed) // 3 + 64):
        mangled[k] ^= 0x5A
    bad = write(tmp_path / f"bad.{codec}", bytes(mangled))
    if codec == "zstd":
        # A zstd frame without a checksum (pyarrow writes none) can decode garbage silently;
        # what matters is that nothing but InputError escapes.
        with contextlib.suppress(InputError):
            sum(len(c) for c in read_chunks(bad, 1000))
        return
    rows, err = _collect_until_error(bad)
    assert rows < 20000
    assert codec in err.reason
