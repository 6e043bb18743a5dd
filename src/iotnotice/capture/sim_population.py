"""What the simulated telescope sees: populations of sources, their behaviour and port choices.

Each population has a ground-truth label and family, a share of the packets, a typical number
of packets per source, where its addresses come from (a hint of ``source_ranges.csv``), how long
a source stays active, and the *kind* of packets it sends (see ``sim_packets``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KIND", "POPULATIONS", "PORTSETS", "Population", "PortSets", "Variant"]

_BUCKETS = 4096

# Packet kinds: how a source builds each packet (sim_packets has one generator per kind).
KIND = {
    name: number
    for number, name in enumerate(
        (
            "mirai",  # SYN, seq == dst, no options, fixed sport + window per bot
            "mirai-quirk",  # as mirai, data offset 6 in a 40-byte packet, sport/window per probe
            "iot",  # SYN, no options, random seq, IoT ports
            "masscan",  # SYN, IP ID == dst ^ dport ^ seq, window 1024
            "zmap",  # SYN, IP ID 54321, window 65535
            "nmap",  # SYN, MSS option only, window 1024
            "research",  # SYN (+ MSS) to many ports, some UDP probes
            "synack",  # backscatter: SYN-ACK from a service port
            "rst",  # backscatter: RST / RST-ACK from a service port
            "icmp-error",  # backscatter: ICMP unreachable / time exceeded quoting a UDP datagram
            "dns",  # backscatter: DNS responses
            "os",  # connection attempts of ordinary stacks (Linux/Windows options), retransmitted
            "udp",  # stray UDP
            "ping",  # a few ICMP echo requests with payload
            "sweep",  # ICMP echo sweep (no payload)
            "spoofed",  # SYNs from reserved addresses, random TTL
            "misrouted",  # OS-like SYNs addressed outside the darknet
        )
    )
}

_IOT_TCP = {23: 0.4, 2323: 0.05, 5555: 0.1, 7547: 0.07, 37215: 0.08, 52869: 0.05, 8080: 0.1}
_IOT_TCP |= {81: 0.07, 60001: 0.08}
_SCAN_PORTS = (22, 80, 443, 445, 1433, 3306, 3389, 5900, 6379, 8080, 8443, 9200, 2375, 27017)
_WIDE_TCP: tuple[int, ...] = (21, 22, 23, 25, 53, 80, 81, 110, 111, 135, 139, 143, 443, 445)
_WIDE_TCP += (465, 587, 993, 995, 1433, 1521, 1723, 2323, 3306, 3389, 5060, 5432, 5555, 5900)
_WIDE_TCP += (6379, 7547, 8000, 8080, 8081, 8443, 8888, 9000, 9200, 11211, 27017, 37215, 52869)
_WIDE_TCP += (49152, 60001)
_UDP = {53: 0.2, 123: 0.15, 161: 0.15, 1900: 0.1, 5060: 0.1, 137: 0.08, 3702: 0.07}
_UDP |= {11211: 0.05, 389: 0.05, 19: 0.05}


@dataclass(frozen=True)
class PortSets:
    """Named destination-port distributions, flattened for vectorised sampling."""

    names: tuple[str, ...]
    ports: np.ndarray  # uint16, all sets concatenated
    cum: np.ndarray  # cumulative probability within each set
    start: np.ndarray  # index of each set's first port
    count: np.ndarray  # ports per set
    table: np.ndarray  # port of each (set, probability bucket), flattened

    @classmethod
    def build(cls, sets: dict[str, dict[int, float]]) -> PortSets:
        names: list[str] = []
        ports: list[int] = []
        cums: list[float] = []
        starts: list[int] = []
        counts: list[int] = []
        for name, dist in sets.items():
            p = np.array(list(dist.values()), dtype=np.float64)
            starts.append(len(ports))
            counts.append(len(dist))
            names.append(name)
            ports.extend(dist)
            c = np.cumsum(p / p.sum())
            c[-1] = 1.0
            cums.extend(c)
        port_arr, cum = np.array(ports, dtype=np.uint16), np.array(cums)
        # Set s owns the keys s + cum (strictly increasing), so one search serves every set.
        keys = np.repeat(np.arange(len(names)), counts) + cum
        q = np.arange(len(names))[:, None] + (np.arange(_BUCKETS) + 0.5) / _BUCKETS
        pick = np.minimum(np.searchsorted(keys, q.ravel(), side="right"), len(ports) - 1)
        return cls(
            tuple(names),
            port_arr,
            cum,
            np.array(starts, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            port_arr[pick],
        )

    def id(self, name: str) -> int:
        return self.names.index(name)

    def sample(self, rng: np.random.Generator, set_ids: np.ndarray) -> np.ndarray:
        """One port per element, drawn from the set named by each element's id."""
        # A quantile table per set (1/4096 resolution) turns sampling into one gather.
        bucket = rng.integers(0, _BUCKETS, len(set_ids), dtype=np.uint16)
        return self.table[set_ids.astype(np.int64) * _BUCKETS + bucket]

    def top(self, sid: int, proto: str, limit: int = 6) -> str:
        """The set's most likely ports as 'port/proto,...'."""
        a, n = self.start[sid], self.count[sid]
        p = np.round(np.diff(np.concatenate([[0.0], self.cum[a : a + n]])), 9)
        order = np.argsort(-p, kind="stable")[:limit]
        return ",".join(f"{int(self.ports[a + i])}/{proto}" for i in order)


PORTSETS = PortSets.build(
    {
        "mirai-telnet": {23: 0.9, 2323: 0.1},
        "satori": {37215: 0.7, 52869: 0.3},
        "adb": {5555: 1.0},
        "tr069": {7547: 0.7, 5555: 0.3},
        "dvr": {60001: 0.4, 8080: 0.3, 81: 0.3},
        "mirai-multi": {23: 0.5, 2323: 0.05, 8080: 0.15, 80: 0.1, 81: 0.1, 37215: 0.05}
        | {52869: 0.05},
        "mirai-2020": {23: 0.4, 80: 0.2, 8080: 0.2, 5555: 0.1, 81: 0.1},
        "iot": _IOT_TCP,
        "wide-tcp": dict.fromkeys(_WIDE_TCP, 1.0),
        "udp": _UDP,
        "service": {80: 0.35, 443: 0.35, 22: 0.05, 25: 0.05, 27015: 0.1, 3074: 0.05, 53: 0.05},
        "udp-service": {53: 0.4, 123: 0.2, 27015: 0.2, 3478: 0.1, 19: 0.1},
        "os": {80: 0.3, 443: 0.3, 22: 0.1, 3389: 0.1, 445: 0.1, 8080: 0.05, 25: 0.05},
        "spoofed": {80: 0.4, 443: 0.3, 22: 0.1, 23: 0.1, 53: 0.1},
    }
    | {f"port-{p}": {p: 1.0} for p in _SCAN_PORTS}
)
_SINGLE = tuple(f"port-{p}" for p in _SCAN_PORTS)


@dataclass(frozen=True)
class Variant:
    """A flavour of a population: its name in the truth file and the port sets it may use."""

    name: str
    portsets: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Population:
    """One kind of source and how much of the traffic it makes."""

    key: str
    label: str
    family: str
    kind: str
    share: float  # of all packets
    mean: float  # packets per source, before caps
    floor: int  # minimum packets per source
    min_sources: int
    max_sources: int
    hints: tuple[tuple[str, float], ...]  # where addresses come from
    activity: str  # duration model, see sim_sources._durations
    origin_ttl: tuple[tuple[int, float], ...]
    variants: tuple[Variant, ...]
    sigma: float = 1.0  # spread of packets per source (lognormal)


def _pop(key: str, label: str, family: str, kind: str, share: float, mean: float, floor: int,
         sources: tuple[int, int], hints: tuple[tuple[str, float], ...], activity: str,
         ttl: tuple[tuple[int, float], ...], variants: tuple[Variant, ...],
         sigma: float = 1.0) -> Population:  # fmt: skip
    return Population(key, label, family, kind, share, mean, floor, *sources, hints, activity, ttl,
                      variants, sigma)  # fmt: skip


_ACCESS = (("access", 1.0),)
_HOSTING = (("hosting", 1.0),)
_MIXED = (("hosting", 0.5), ("access", 0.5))
_T64 = ((64, 1.0),)
_T255 = ((255, 1.0),)
_SERVERS = ((64, 0.5), (128, 0.3), (255, 0.2))

# Shares add up to 1. Means give ~1 source per 40 packets for bots at small sizes; caps bound
# the source table (and the truth file) for 100M-packet runs, where sources just send more.
# Floors: iot-unknown bots send >= 25 SYNs (detect's iot_min_packets is 20); untagged scanners
# (nmap, sweeps) send enough to reach > 100 addresses of a /24 (scanner_min_destinations).
POPULATIONS: tuple[Population, ...] = (
    _pop("mirai", "infected", "mirai", "mirai", 0.40, 40, 1, (25, 100_000), _ACCESS, "persistent",
         _T64, (Variant("telnet", ("mirai-telnet",)),), sigma=1.1),
    _pop("mirai-variant", "infected", "mirai", "mirai", 0.08, 40, 1, (10, 20_000), _ACCESS,
         "persistent", _T64,
         (Variant("satori", ("satori",)), Variant("adb", ("adb",)), Variant("tr069", ("tr069",)),
          Variant("dvr", ("dvr",)), Variant("multi", ("mirai-multi",)))),
    _pop("mirai-2020", "infected", "mirai", "mirai-quirk", 0.03, 30, 3, (5, 5_000), _ACCESS,
         "persistent", _T64, (Variant("doff6", ("mirai-2020",)),)),
    _pop("iot-unknown", "infected", "iot-unknown", "iot", 0.06, 80, 25, (5, 20_000), _ACCESS,
         "persistent", _T64, (Variant("iot-scan", ("iot",)),), sigma=0.6),
    _pop("masscan", "scanner", "masscan", "masscan", 0.08, 2000, 100, (2, 500),
         (("hosting", 0.8), ("access", 0.2)), "session", _T255,
         (Variant("single-port", _SINGLE, 0.7), Variant("multi-port", ("wide-tcp",), 0.3))),
    _pop("zmap", "scanner", "zmap", "zmap", 0.04, 1500, 100, (2, 300), _HOSTING, "session", _T255,
         (Variant("legacy", _SINGLE),)),
    _pop("nmap", "scanner", "nmap", "nmap", 0.02, 1000, 200, (1, 300), _MIXED, "session", _T64,
         (Variant("syn-scan", ("wide-tcp",)),)),
    _pop("sweep", "scanner", "icmp-sweep", "sweep", 0.02, 400, 150, (1, 300), _MIXED, "short",
         ((64, 0.5), (255, 0.5)), (Variant("echo", ("udp",)),)),
    _pop("research", "research", "research", "research", 0.08, 500, 50, (3, 1_000),
         (("research", 1.0),), "full", ((64, 0.7), (255, 0.3)),
         (Variant("tcp-udp", ("wide-tcp",)),), sigma=0.5),
    _pop("backscatter", "backscatter", "", "synack", 0.0995, 300, 40, (5, 20_000),
         (("hosting", 0.7), ("access", 0.3)), "burst", _SERVERS,
         (Variant("synack", ("service",), 0.45), Variant("rst", ("service",), 0.3),
          Variant("icmp-error", ("udp-service",), 0.15), Variant("dns", ("udp-service",), 0.1))),
    _pop("backscatter-small", "backscatter", "", "synack", 0.0005, 10, 3, (1, 4_000),
         (("hosting", 0.7), ("access", 0.3)), "brief", _SERVERS,
         (Variant("synack", ("service",), 0.5), Variant("rst", ("service",), 0.5))),
    _pop("os", "noise", "os", "os", 0.03, 3, 1, (10, 100_000), (("access", 0.8), ("hosting", 0.2)),
         "retry", ((64, 0.6), (128, 0.4)), (Variant("connect", ("os",)),), sigma=0.5),
    _pop("udp", "noise", "udp", "udp", 0.04, 8, 1, (10, 50_000),
         (("access", 0.6), ("hosting", 0.4)), "any", ((64, 0.6), (128, 0.4)),
         (Variant("stray", ("udp",)),)),
    _pop("ping", "noise", "icmp", "ping", 0.005, 4, 1, (3, 10_000), _ACCESS, "retry",
         ((64, 0.6), (128, 0.4)), (Variant("echo", ("udp",)),), sigma=0.5),
    _pop("spoofed", "spoofed", "bogon", "spoofed", 0.005, 2, 1, (5, 20_000), (("bogon", 1.0),),
         "instant", _T64, (Variant("reserved-source", ("spoofed",)),), sigma=0.5),
    _pop("misrouted", "noise", "misrouted", "misrouted", 0.01, 5, 1, (3, 10_000), _MIXED, "retry",
         ((64, 0.6), (128, 0.4)), (Variant("outside-darknet", ("os",)),), sigma=0.5),
)  # fmt: skip

# Backscatter variants select their packet kind (and name the family, which is empty above).
VARIANT_KIND = {"synack": "synack", "rst": "rst", "icmp-error": "icmp-error", "dns": "dns"}
