"""Plan the simulated sources: who they are, how many packets each sends, when, and how."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from iotnotice.capture import pcapwrite as pw
from iotnotice.capture.sim_population import KIND, POPULATIONS, PORTSETS, VARIANT_KIND, Population
from iotnotice.capture.sim_ranges import HINTS, AddressSpace, SourceRanges
from iotnotice.errors import ConfigError

__all__ = ["Sources", "plan_sources"]

_SECOND = 1_000_000
_RESAMPLE_ROUNDS = 64


@dataclass
class Sources:
    """One row per source (numpy columns), ordered by packet kind."""

    ip: np.ndarray  # uint32
    pop: np.ndarray  # index into POPULATIONS
    variant: np.ndarray  # index into the population's variants
    kind: np.ndarray  # KIND number
    hint: np.ndarray  # index into HINTS
    range_idx: np.ndarray  # row of source_ranges.csv
    packets: np.ndarray  # int64, packets the source sends
    t0: np.ndarray  # int64 µs after the start: first moment of activity
    t1: np.ndarray  # int64 µs: end of activity (exclusive)
    origin_ttl: np.ndarray  # uint8 initial TTL of the sender's stack
    ttl: np.ndarray  # uint8 TTL as received (origin minus hops)
    portset: np.ndarray  # PORTSETS id of destination ports
    sport: np.ndarray  # uint16 fixed source port (service port for backscatter)
    window: np.ndarray  # uint16 fixed TCP window
    dst: np.ndarray  # uint32 fixed destination (retransmitting kinds)
    dport: np.ndarray  # uint16 fixed destination port (retransmitting kinds)
    layout: np.ndarray  # uint8 preferred frame layout where a kind has a choice
    aux: np.ndarray  # uint32 per-source constant (ISN, ICMP id, TCP timestamp base, ...)

    def __len__(self) -> int:
        return len(self.ip)

    def take(self, order: np.ndarray) -> Sources:
        return Sources(**{f.name: getattr(self, f.name)[order] for f in fields(self)})


def _budgets(total: int) -> np.ndarray:
    shares = np.array([p.share for p in POPULATIONS])
    budget = np.floor(shares / shares.sum() * total).astype(np.int64)
    budget[0] += total - budget.sum()
    return budget


def _allocate(rng: np.random.Generator, budget: int, pop: Population) -> np.ndarray:
    """Packets per source of one population, summing to ``budget`` (or empty if it cannot)."""
    n = int(np.clip(round(budget / pop.mean), pop.min_sources, pop.max_sources))
    n = min(n, budget // max(pop.floor, 1))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    w = rng.lognormal(0.0, pop.sigma, n)
    extra = rng.multinomial(budget - n * pop.floor, w / w.sum())
    return pop.floor + extra.astype(np.int64)


def _choose(rng: np.random.Generator, options: tuple[tuple[int, float], ...], n: int) -> np.ndarray:
    values = np.array([v for v, _ in options])
    p = np.array([w for _, w in options], dtype=np.float64)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def _hints(rng: np.random.Generator, pop: Population, n: int) -> np.ndarray:
    options = tuple((HINTS.index(h), w) for h, w in pop.hints)
    return _choose(rng, options, n).astype(np.int8)


def _addresses(
    rng: np.random.Generator, ranges: SourceRanges, hint: np.ndarray, avoid: list[AddressSpace]
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct source addresses, none inside ``avoid`` (the darknet, the misrouted block)."""
    ip = np.zeros(len(hint), dtype=np.uint32)
    idx = np.zeros(len(hint), dtype=np.int32)
    todo = np.arange(len(hint))
    for _ in range(_RESAMPLE_ROUNDS):
        for h in np.unique(hint[todo]):
            sel = todo[hint[todo] == h]
            ip[sel], idx[sel] = ranges.sample(rng, HINTS[h], len(sel))
        bad = np.zeros(len(ip), dtype=bool)
        for space in avoid:
            bad |= space.contains(ip)
        _, first = np.unique(ip, return_index=True)
        dup = np.ones(len(ip), dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(bad | dup)
        if not len(todo):
            return ip, idx
    raise ConfigError("cannot draw distinct source addresses outside the darknet")


def _durations(
    rng: np.random.Generator, activity: str, counts: np.ndarray, duration: int
) -> np.ndarray:
    """Active time of each source in µs (see Population.activity)."""
    n = len(counts)
    u = rng.random(n)
    d = float(duration)
    match activity:
        case "persistent":  # bots: half online all the time, the rest for part of it
            out = np.where(rng.random(n) < 0.5, d, d * (0.2 + 0.8 * u))
        case "session":  # tool scans of part of the period
            out = d * (0.05 + 0.45 * u)
        case "full":
            out = np.full(n, d)
        case "short":
            out = (10 + 590 * u) * _SECOND
        case "burst":  # DoS backscatter: >= 1 packet/s for >= 60 s (corsaro dos thresholds)
            rate = 1.0 + 4.0 * u
            out = np.maximum(60.0, counts / rate) * _SECOND
        case "brief":
            out = (1 + 119 * u) * _SECOND
        case "retry":
            out = (0.5 + 59.5 * u) * _SECOND
        case "any":
            out = d * (0.01 + 0.99 * u)
        case _:  # instant
            out = (0.001 + 10 * u) * _SECOND
    return np.clip(out, 1, d).astype(np.int64)


def _population(
    rng: np.random.Generator, number: int, pop: Population, counts: np.ndarray, duration: int
) -> dict[str, np.ndarray]:
    """Per-source columns that depend only on the population (addresses come later)."""
    n = len(counts)
    variant = _choose(rng, tuple((i, v.weight) for i, v in enumerate(pop.variants)), n)
    kinds = [KIND[VARIANT_KIND.get(v.name, pop.kind)] for v in pop.variants]
    portset = np.empty(n, dtype=np.int16)
    for i, v in enumerate(pop.variants):
        sel = np.flatnonzero(variant == i)
        ids = np.array([PORTSETS.id(name) for name in v.portsets])
        portset[sel] = ids[rng.integers(0, len(ids), len(sel))]
    origin = _choose(rng, pop.origin_ttl, n).astype(np.uint8)
    hops = rng.integers(4, 25, n).astype(np.uint8)
    active = _durations(rng, pop.activity, counts, duration)
    t0 = (rng.random(n) * (duration - active)).astype(np.int64)
    return {
        "pop": np.full(n, number, dtype=np.uint8),
        "variant": variant.astype(np.uint8),
        "kind": np.array(kinds, dtype=np.uint8)[variant],
        "hint": _hints(rng, pop, n),
        "packets": counts,
        "t0": t0,
        "t1": t0 + active,
        "origin_ttl": origin,
        "ttl": origin - hops,
        "portset": portset,
        "sport": rng.integers(1024, 65536, n).astype(np.uint16),
        "window": rng.integers(1, 65536, n).astype(np.uint16),
        "aux": rng.integers(0, 2**32, n, dtype=np.uint32),
    }


def _pick(rng: np.random.Generator, values: tuple[int, ...], n: int) -> np.ndarray:
    return np.array(values)[rng.integers(0, len(values), n)]


def _kind_details(
    rng: np.random.Generator, src: Sources, darknet: AddressSpace, outside: AddressSpace
) -> None:
    """Fields fixed per source that depend on the packet kind (tool constants, services)."""
    k = src.kind

    def where(*names: str) -> np.ndarray:
        return np.flatnonzero(np.isin(k, [KIND[n] for n in names]))

    iot = where("iot")
    src.window[iot] = _pick(rng, (5840, 14600, 29200, 65535, 4096), len(iot))
    src.window[where("masscan", "nmap")] = 1024
    src.window[where("zmap")] = 65535
    servers = where("synack", "rst", "icmp-error", "dns")
    src.sport[servers] = PORTSETS.sample(rng, src.portset[servers])
    src.sport[where("dns")] = 53
    synack = where("synack")
    src.window[synack] = _pick(rng, (29200, 64240, 65535, 8192, 14600), len(synack))
    src.window[where("rst")] = 0
    research = where("research")
    src.layout[research] = np.where(rng.random(len(research)) < 0.6, pw.TCP_MSS, pw.TCP_PLAIN)
    stacks = where("os", "misrouted")
    linux = src.origin_ttl[stacks] == 64
    src.layout[stacks] = np.where(linux, pw.TCP_LINUX, pw.TCP_WINDOWS)
    src.window[stacks] = np.where(linux & (rng.random(len(stacks)) < 0.5), 29200, 64240)
    # Ephemeral port ranges: Linux 32768-60999, Windows 49152-65535.
    low, high = np.where(linux, 32768, 49152), np.where(linux, 61000, 65536)
    src.sport[stacks] = low + (rng.random(len(stacks)) * (high - low)).astype(np.int64)
    src.dport[stacks] = PORTSETS.sample(rng, src.portset[stacks])
    fixed = where("os", "ping")
    src.dst[fixed] = darknet.sample(rng, len(fixed))
    misrouted = where("misrouted")
    src.dst[misrouted] = outside.sample(rng, len(misrouted))


def plan_sources(
    rng: np.random.Generator,
    ranges: SourceRanges,
    total: int,
    duration: int,
    darknet: AddressSpace,
    outside: AddressSpace,
) -> Sources:
    """Sources of every population sending exactly ``total`` packets within ``duration`` µs."""
    parts: list[dict[str, np.ndarray]] = []
    for number, (pop, budget) in enumerate(zip(POPULATIONS, _budgets(total), strict=True)):
        counts = _allocate(rng, int(budget), pop)
        parts.append(_population(rng, number, pop, counts, duration))
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    if not len(cols["packets"]):
        raise ConfigError("too few packets to simulate any source")
    cols["packets"][np.argmax(cols["packets"])] += total - int(cols["packets"].sum())
    n = len(cols["packets"])
    cols["ip"], cols["range_idx"] = _addresses(rng, ranges, cols["hint"], [darknet, outside])
    cols["dst"] = np.zeros(n, dtype=np.uint32)
    cols["dport"] = np.zeros(n, dtype=np.uint16)
    cols["layout"] = np.zeros(n, dtype=np.uint8)
    src = Sources(**cols)
    _kind_details(rng, src, darknet, outside)
    return src.take(np.argsort(src.kind, kind="stable"))
