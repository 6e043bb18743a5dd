"""Reader against dpkt on random traffic, and random bytes that must never crash it."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import dpkt
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcapbuild import ethernet, icmp, ipv4, pcap_bytes, pcapng_idb, pcapng_shb, tcp, udp, write

from iotnotice.capture.reader import read_chunks
from iotnotice.errors import InputError


def _random_packets(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src = ".".join(str(x) for x in rng.integers(1, 223, 4))
        dst = f"203.0.113.{rng.integers(0, 256)}"
        kind = rng.integers(0, 3)
        sport, dport = (int(x) for x in rng.integers(0, 65536, 2))
        if kind == 0:
            seg = tcp(sport, dport, int(rng.integers(0, 2**32)), int(rng.integers(0, 64)))
            out.append(
                ipv4(src, dst, seg, 6, int(rng.integers(1, 256)), int(rng.integers(0, 65536)))
            )
        elif kind == 1:
            out.append(ipv4(src, dst, udp(sport, dport), 17, int(rng.integers(1, 256))))
        else:
            out.append(
                ipv4(src, dst, icmp(int(rng.integers(0, 256)), int(rng.integers(0, 256))), 1)
            )
    return out


def test_fields_match_dpkt(tmp_path: Path) -> None:
    """Addresses, ports, protocol, TTL, flags, IP length and ID agree with dpkt's decode."""
    packets = _random_packets(500, seed=7)
    path = write(
        tmp_path / "r.pcap", pcap_bytes([(1e9 + i, ethernet(p)) for i, p in enumerate(packets)])
    )
    ours = next(read_chunks(path, 10_000))
    with path.open("rb") as fh:
        for row, (_ts, buf) in enumerate(dpkt.pcap.Reader(fh)):
            ip = dpkt.ethernet.Ethernet(buf).data
            l4 = ip.data
            assert ours.src_ip[row] == int.from_bytes(ip.src, "big")
            assert ours.dst_ip[row] == int.from_bytes(ip.dst, "big")
            assert (ours.protocol[row], ours.ttl[row]) == (ip.p, ip.ttl)
            assert (ours.ip_len[row], ours.ip_id[row]) == (ip.len, ip.id)
            if isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
                assert (ours.src_port[row], ours.dst_port[row]) == (l4.sport, l4.dport)
            if isinstance(l4, dpkt.tcp.TCP):
                assert (ours.tcp_flags[row], ours.tcp_seq[row]) == (l4.flags, l4.seq)
            if isinstance(l4, dpkt.icmp.ICMP):
                assert (ours.src_port[row], ours.dst_port[row]) == (l4.type, l4.code)
    assert len(ours) == 500


_PCAP_HEAD = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_PREFIXES = {
    "none": b"",
    "pcap-eth": _PCAP_HEAD,
    "pcap-raw": _PCAP_HEAD[:20] + struct.pack("<I", 101),
    "pcap-sll2": _PCAP_HEAD[:20] + struct.pack("<I", 276),
    "pcapng": pcapng_shb() + pcapng_idb(1),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(sorted(_PREFIXES)), body=st.binary(max_size=600))
def test_random_bytes_never_crash(prefix: str, body: bytes) -> None:
    """Any bytes after any header either decode or raise InputError, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "fuzz", _PREFIXES[prefix] + body)
        try:
            for chunk in read_chunks(path, 7):
                assert len(chunk) <= 7
                assert set(np.unique(chunk.ip_version)) <= {4, 6}
        except InputError as exc:
            assert exc.offset is not None
            assert exc.offset <= len(_PREFIXES[prefix]) + len(body)


_LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    linktype=st.sampled_from(_LINKTYPES),
    frames=st.lists(st.binary(max_size=120), max_size=12),
    seed_ip=st.booleans(),
)
def test_random_frames_decode_or_are_counted(
    linktype: int, frames: list[bytes], seed_ip: bool
) -> None:
    """Well-framed records with random contents are decoded or counted as non-IP, never crash."""
    if seed_ip:  # steer some frames into the IP decoders
        frames = [bytes([0x45 if i % 2 else 0x60]) + f for i, f in enumerate(frames)]
    with tempfile.TemporaryDirectory() as tmp:
        data = pcap_bytes([(1.0, f) for f in frames], linktype=linktype)
        chunks = list(read_chunks(write(Path(tmp) / "f.pcap", data), 5))
        assert sum(c.frames for c in chunks) == len(frames)
        assert sum(len(c) + c.non_ip for c in chunks) == len(frames)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=st.binary(max_size=64), body=st.binary(max_size=200))
def test_random_pcapng_options_and_blocks(options: bytes, body: bytes) -> None:
    """Random interface options and blocks after them raise nothing but InputError."""
    idb_body = struct.pack("<HHI", 1, 0, 0) + options + b"\x00" * (-len(options) % 4)
    idb = (
        struct.pack("<II", 1, len(idb_body) + 12) + idb_body + struct.pack("<I", len(idb_body) + 12)
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            list(read_chunks(write(Path(tmp) / "g.pcapng", pcapng_shb() + idb + body), 3))
        except InputError as exc:
            assert exc.offset is not None
