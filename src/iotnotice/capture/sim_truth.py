"""Ground truth of a simulation: per-source counters over the written packets, and the CSV.

Counters are taken from the packets as generated (not from the plan), so the truth file agrees
with the capture exactly, chance fingerprint matches included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from iotnotice.capture import pcapwrite as pw
from iotnotice.capture.sim_packets import Window
from iotnotice.capture.sim_population import KIND, POPULATIONS, PORTSETS
from iotnotice.capture.sim_ranges import AddressSpace, SourceRanges
from iotnotice.capture.sim_sources import Sources

__all__ = ["TRUTH_COLUMNS", "Truth"]

TRUTH_COLUMNS = (
    "ip",
    "label",
    "family",
    "variant",
    "packets",
    "darknet_packets",
    "outside_packets",
    "mirai_packets",
    "masscan_packets",
    "zmap_packets",
    "quirk_packets",
    "protocol",
    "ports",
    "first_ts",
    "last_ts",
    "initial_ttl",
    "ttl",
    "sport",
    "window",
    "country",
    "as_name",
    "prefix",
)
_COUNTERS = ("darknet", "outside", "mirai", "masscan", "zmap", "quirk")
# Kinds whose source port / window stay fixed for the whole life of a source.
_FIXED_SPORT = ("mirai", "masscan", "nmap", "synack", "rst", "dns", "os", "udp", "misrouted")
_FIXED_WINDOW = ("mirai", "iot", "masscan", "zmap", "nmap", "synack", "os", "misrouted")
_PROTOCOL = {"udp": "udp", "dns": "udp", "ping": "icmp", "sweep": "icmp", "icmp-error": "icmp"}
_PROTOCOL |= {"research": "tcp+udp"}  # keyed by packet kind


class Truth:
    """Accumulates per-source counters window by window."""

    def __init__(self, sources: Sources, ranges: SourceRanges) -> None:
        n = len(sources)
        self.sources = sources
        self.ranges = ranges
        self.counters = {name: np.zeros(n, dtype=np.int64) for name in _COUNTERS}
        self.first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.last = np.full(n, -1, dtype=np.int64)
        self.sent = np.zeros(n, dtype=np.int64)

    def add(self, w: Window, darknet: AddressSpace) -> None:
        """Count the packets of one window."""
        c, n = w.cols, len(w.active)
        tcp = c["layout"] <= pw.TCP_WINDOWS
        syn = tcp & ((c["flags"] & 0x12) == 0x02)
        marks = {
            "darknet": darknet.contains(c["dst"]),
            "mirai": syn & (c["seq"] == c["dst"]),
            "masscan": syn & (c["ip_id"] == ((c["dst"] ^ c["dport"] ^ c["seq"]) & 0xFFFF)),
            "zmap": c["ip_id"] == 54321,
            "quirk": c["layout"] == pw.TCP_QUIRK,
        }
        marks["outside"] = ~marks["darknet"]
        for name, mark in marks.items():
            self.counters[name][w.active] += np.bincount(w.slot[mark], minlength=n)
        self.sent[w.active] += w.counts
        self.first[w.active] = np.minimum(self.first[w.active], w.first)
        self.last[w.active] = np.maximum(self.last[w.active], w.last)

    def _ports(self) -> pa.Array:
        """Destination ports each source aims at ('' for replies to random client ports)."""
        s, kind = self.sources, self.sources.kind
        # key < 1000: a port set (TCP view); 1000+set: UDP view; 2000+set: research;
        # 10000+port: one fixed TCP port; 3000: icmp; 4000: none.
        key = s.portset.astype(np.int64)
        key[kind == KIND["udp"]] += 1000
        key[kind == KIND["research"]] += 2000
        stacks = np.isin(kind, [KIND["os"], KIND["misrouted"]])
        key[stacks] = 10000 + s.dport[stacks]
        key[np.isin(kind, [KIND["ping"], KIND["sweep"]])] = 3000
        key[np.isin(kind, [KIND[k] for k in ("synack", "rst", "icmp-error", "dns")])] = 4000
        uniq, inverse = np.unique(key, return_inverse=True)
        return _strings(inverse, [_port_text(int(k)) for k in uniq])

    def _names(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        s = self.sources
        longest = max(len(p.variants) for p in POPULATIONS)
        code = s.pop.astype(np.int64) * longest + s.variant
        table = [
            (p, p.variants[min(i, len(p.variants) - 1)].name)
            for p in POPULATIONS
            for i in range(longest)
        ]
        labels = _strings(code, [p.label for p, _ in table])
        variants = _strings(code, [v for _, v in table])
        research = s.kind == KIND["research"]
        # Research scanners are named after the organisation of their range.
        org = np.array([n.startswith("CENSYS") for n in self.ranges.as_name])[s.range_idx]
        fam_code = np.where(research, len(table) + (~org).astype(np.int64), code)
        names = [p.family or v for p, v in table] + ["censys", "shadowserver"]
        return labels, _strings(fam_code, names), variants

    def _fixed(self, values: np.ndarray, kinds: tuple[str, ...]) -> pa.Array:
        keep = np.isin(self.sources.kind, [KIND[k] for k in kinds])
        return pa.array(values.astype(np.int64), mask=~keep)

    def write(self, path: Path) -> None:
        """The truth CSV, one row per source, sorted by address."""
        s, ranges = self.sources, self.ranges
        labels, families, variants = self._names()
        kinds = list(KIND)
        protocol = _strings(s.kind, [_PROTOCOL.get(k, "tcp") for k in kinds])
        spoofed = s.kind == KIND["spoofed"]  # TTL is random per packet
        cols: dict[str, pa.Array] = {
            "ip": _dotted(s.ip),
            "label": labels,
            "family": families,
            "variant": variants,
            "packets": pa.array(self.sent),
            **{f"{name}_packets": pa.array(self.counters[name]) for name in _COUNTERS},
            "protocol": protocol,
            "ports": self._ports(),
            "first_ts": _iso(self.first, self.sent == 0),
            "last_ts": _iso(self.last, self.sent == 0),
            "initial_ttl": pa.array(s.origin_ttl.astype(np.int64), mask=spoofed),
            "ttl": pa.array(s.ttl.astype(np.int64), mask=spoofed),
            "sport": self._fixed(s.sport, _FIXED_SPORT),
            "window": self._fixed(s.window, _FIXED_WINDOW),
            "country": _strings(s.range_idx, list(ranges.country)),
            "as_name": _strings(s.range_idx, list(ranges.as_name)),
            "prefix": _strings(s.range_idx, list(ranges.prefix)),
        }
        order = pa.array(np.argsort(s.ip, kind="stable"))
        table = pa.table({name: cols[name].take(order) for name in TRUTH_COLUMNS})
        options = pacsv.WriteOptions(quoting_style="needed")
        tmp = path.with_name(path.name + ".partial")
        pacsv.write_csv(table, tmp, write_options=options)
        tmp.replace(path)


def _port_text(key: int) -> str:
    if key >= 10000:
        return f"{key - 10000}/tcp"
    if key == 3000:
        return "icmp"
    if key == 4000:
        return ""
    if key >= 2000:
        udp = PORTSETS.top(PORTSETS.id("udp"), "udp", 3)
        return PORTSETS.top(key - 2000, "tcp") + "," + udp
    if key >= 1000:
        return PORTSETS.top(key - 1000, "udp")
    return PORTSETS.top(key, "tcp")


def _strings(codes: np.ndarray, names: list[str]) -> pa.Array:
    """Plain string column from per-row codes into ``names``."""
    indices = pa.array(codes.astype(np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.string())).cast(pa.string())


def _dotted(ips: np.ndarray) -> pa.Array:
    """Dotted-quad strings of uint32 addresses."""
    octets = [pa.array((ips >> shift) & 0xFF).cast(pa.string()) for shift in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def _iso(us: np.ndarray, missing: np.ndarray) -> pa.Array:
    """ISO 8601 UTC strings with microseconds ('2026-01-05T00:11:42.462707Z'); null if missing."""
    us = np.where(missing, 0, us)
    day, rest = np.divmod(us, 86_400_000_000)
    days, inverse = np.unique(day, return_inverse=True)
    names = [str(d) for d in days.astype("datetime64[D]")]
    parts: list[pa.Array | str] = [_strings(inverse, [f"{d}T" for d in names])]
    for unit, width, sep in ((3_600_000_000, 2, ":"), (60_000_000, 2, ":"), (1_000_000, 2, ".")):
        value, rest = np.divmod(rest, unit)
        parts += [_padded(value, width), sep]
    parts += [_padded(rest, 6), "Z"]
    text = pc.binary_join_element_wise(*parts, "")
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)


def _padded(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width=width, padding="0")
