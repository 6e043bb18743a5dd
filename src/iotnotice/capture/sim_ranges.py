"""Address spaces of the simulator: the shipped source ranges and the darknet being watched."""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from iotnotice.errors import ConfigError

__all__ = ["AddressSpace", "SourceRanges", "load_source_ranges", "outside_space"]

HINTS = ("access", "hosting", "research", "bogon")


@dataclass(frozen=True)
class SourceRanges:
    """Prefixes sources are drawn from, with the country / AS name enrichment should return."""

    prefix: tuple[str, ...]
    first: np.ndarray  # uint32 network address
    size: np.ndarray  # int64 number of addresses
    country: tuple[str, ...]
    as_name: tuple[str, ...]
    weight: np.ndarray  # float64, relative within a hint
    hint: tuple[str, ...]

    def sample(self, rng: np.random.Generator, hint: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` addresses of ranges with ``hint`` (prefix chosen by weight): (ips, range index)."""
        rows = np.flatnonzero(np.array(self.hint) == hint)
        if not len(rows):
            raise ConfigError(f"source ranges have no prefix with hint {hint!r}")
        p = self.weight[rows] / self.weight[rows].sum()
        picked = rows[rng.choice(len(rows), size=n, p=p)]
        offset = (rng.random(n) * self.size[picked]).astype(np.int64)
        return (self.first[picked].astype(np.int64) + offset).astype(np.uint32), picked


def load_source_ranges() -> SourceRanges:
    """The shipped ``data/source_ranges.csv`` (derived from GeoLite2 via geoip2fast)."""
    text = resources.files("iotnotice.capture").joinpath("data/source_ranges.csv").read_text()
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    nets = [ipaddress.IPv4Network(r["prefix"]) for r in rows]
    return SourceRanges(
        prefix=tuple(r["prefix"] for r in rows),
        first=np.array([int(n.network_address) for n in nets], dtype=np.uint32),
        size=np.array([n.num_addresses for n in nets], dtype=np.int64),
        country=tuple(r["country"] for r in rows),
        as_name=tuple(r["as_name"] for r in rows),
        weight=np.array([float(r["weight"]) for r in rows]),
        hint=tuple(r["hint"] for r in rows),
    )


@dataclass(frozen=True)
class AddressSpace:
    """A set of IPv4 prefixes, sampled uniformly over its addresses."""

    prefixes: tuple[ipaddress.IPv4Network, ...]

    @classmethod
    def parse(cls, cidrs: Sequence[str]) -> AddressSpace:
        """Parse and merge CIDR strings; a bad prefix is a ConfigError."""
        nets = []
        for text in cidrs:
            try:
                nets.append(ipaddress.IPv4Network(str(text).strip(), strict=False))
            except ValueError as exc:
                raise ConfigError(f"darknet prefix {text!r} is not an IPv4 CIDR: {exc}") from None
        if not nets:
            raise ConfigError("at least one darknet prefix is needed")
        return cls(tuple(ipaddress.collapse_addresses(nets)))

    @property
    def size(self) -> int:
        return sum(n.num_addresses for n in self.prefixes)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        firsts = np.array([int(n.network_address) for n in self.prefixes], dtype=np.int64)
        sizes = np.array([n.num_addresses for n in self.prefixes], dtype=np.int64)
        return firsts, sizes

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniformly drawn addresses (uint32)."""
        firsts, sizes = self._bounds()
        u = rng.integers(0, int(sizes.sum()), size=n, dtype=np.int64)
        if len(firsts) == 1:
            return (firsts[0] + u).astype(np.uint32)
        ends = np.cumsum(sizes)
        j = np.searchsorted(ends, u, side="right")
        return (firsts[j] + u - (ends[j] - sizes[j])).astype(np.uint32)

    def contains(self, ips: np.ndarray) -> np.ndarray:
        """Whether each address is inside the space."""
        firsts, sizes = self._bounds()
        a = ips.astype(np.int64)
        hit = np.zeros(len(a), dtype=bool)
        for first, size in zip(firsts, sizes, strict=True):
            hit |= (a >= first) & (a < first + size)
        return hit

    def __str__(self) -> str:
        return ",".join(str(n) for n in self.prefixes)


def outside_space(darknet: AddressSpace) -> AddressSpace:
    """A block next to the darknet (same size as its first prefix) for misrouted packets."""
    first = darknet.prefixes[0]
    size = first.num_addresses
    base = int(first.network_address)
    for cand in (base + size, base - size, int(ipaddress.IPv4Address("198.51.100.0"))):
        if cand >= 0 and cand + size <= 2**32:
            net = ipaddress.IPv4Network((cand, first.prefixlen))
            if not any(net.overlaps(p) for p in darknet.prefixes):
                return AddressSpace((net,))
    return AddressSpace((ipaddress.IPv4Network("192.0.2.0/24"),))
