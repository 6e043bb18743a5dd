"""Darknet traffic simulator: a classic pcap of what a telescope sees, plus its ground truth.

Populations (see ``sim_population``): Mirai bots and variants, un-fingerprinted IoT bots, tool
scanners (Masscan, legacy ZMap, nmap, ICMP sweeps), research scanners from published ranges,
backscatter from DoS victims, ordinary OS connection attempts, stray UDP and pings, spoofed
sources and a few misrouted packets addressed outside the darknet. Sources come from real
address ranges (``data/source_ranges.csv``), so enrichment with the bundled data returns the
country and AS name that the truth file states.

The period is cut into windows of about ``chunk_packets`` packets; each window's packets are
generated as numpy columns, sorted by time, encoded and appended, so memory stays bounded
whatever the size. The output is a deterministic function of the arguments.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from iotnotice.capture import pcapwrite as pw
from iotnotice.capture.sim_packets import generate
from iotnotice.capture.sim_population import POPULATIONS
from iotnotice.capture.sim_ranges import AddressSpace, load_source_ranges, outside_space
from iotnotice.capture.sim_sources import Sources, plan_sources
from iotnotice.capture.sim_truth import TRUTH_COLUMNS, Truth
from iotnotice.errors import ConfigError, InputError

__all__ = [
    "DEFAULT_DARKNET",
    "DEFAULT_START",
    "PACKETS_PER_ADDRESS_SECOND",
    "TRUTH_COLUMNS",
    "SimulationResult",
    "simulate",
]

DEFAULT_DARKNET = ("203.0.113.0/24",)
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
# A busy telescope: real ones see ~0.01-0.2 packets/s per address; 1/s keeps small darknets
# useful as samples. --hours derives the packet count from it, --packets the duration.
PACKETS_PER_ADDRESS_SECOND = 1.0
MIN_DURATION_S = 3600.0
MAX_DERIVED_PACKETS = 2_000_000_000  # --hours alone on a huge darknet is almost surely a mistake
DEFAULT_CHUNK = 262_144
_SECOND = 1_000_000


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation wrote."""

    pcap: Path
    truth: Path
    packets: int
    sources: int
    start: datetime  # start of the simulated period (UTC)
    end: datetime  # end of the simulated period (UTC)
    darknet: tuple[str, ...]
    labels: dict[str, int]  # sources per ground-truth label
    label_packets: dict[str, int]  # packets per ground-truth label
    outside_packets: int  # packets addressed outside the darknet
    bytes: int
    chunks: int
    seconds: float = field(compare=False)  # wall-clock time taken

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.seconds if self.seconds > 0 else float("inf")


def _size(packets: int | None, hours: float | None, addresses: int) -> tuple[int, int]:
    """(packets, duration in µs) from the user's choice of either or both."""
    rate = PACKETS_PER_ADDRESS_SECOND * addresses
    if hours is not None and not (hours > 0 and math.isfinite(hours)):
        raise ConfigError(f"--hours must be a positive number, not {hours}")
    if packets is not None and packets < 1:
        raise ConfigError(f"--packets must be at least 1, not {packets}")
    if packets is None:
        seconds = 3600.0 if hours is None else hours * 3600
        packets = max(1, round(rate * seconds))
        if packets > MAX_DERIVED_PACKETS:
            raise ConfigError(
                f"{seconds / 3600:g} hours over {addresses:,} addresses would be {packets:,} "
                "packets; give --packets as well"
            )
    elif hours is None:
        seconds = max(MIN_DURATION_S, packets / rate)
    else:
        seconds = hours * 3600
    return int(packets), max(1, round(seconds * _SECOND))


def _windows(
    rng: np.random.Generator, src: Sources, duration: int, chunk: int
) -> Iterator[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """(active sources, packets each, (start, end)) per window; every packet lands exactly once.

    Each source spreads its packets uniformly over [t0, t1): the count in a window is binomial
    with the window's share of the source's *remaining* active time (the last window takes all).
    """
    remaining = src.packets.copy()
    step = max(1, math.ceil(duration / max(1, math.ceil(int(remaining.sum()) / chunk))))
    w0 = 0
    while w0 < duration:
        w1 = min(duration, w0 + step)
        while True:
            alive = np.flatnonzero((remaining > 0) & (src.t0 < w1) & (src.t1 > w0))
            lo = np.maximum(src.t0[alive], w0)
            share = (np.minimum(src.t1[alive], w1) - lo) / (src.t1[alive] - lo)
            share[src.t1[alive] <= w1] = 1.0
            if (remaining[alive] * share).sum() <= 2 * chunk or w1 - w0 <= 1000:
                break
            w1 = w0 + (w1 - w0) // 2  # a burst: halve the window to keep chunks bounded
        counts = rng.binomial(remaining[alive], np.clip(share, 0.0, 1.0))
        keep = counts > 0
        remaining[alive] -= counts
        yield alive[keep], counts[keep], (w0, w1)
        w0 = w1


def _start_us(start: datetime | None) -> tuple[datetime, int]:
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start = start.astimezone(UTC)
    return start, round(start.timestamp() * _SECOND)


def simulate(
    out: Path,
    truth: Path,
    *,
    packets: int | None = None,
    hours: float | None = None,
    seed: int = 1,
    darknet: Sequence[str] = DEFAULT_DARKNET,
    start: datetime | None = None,
    chunk_packets: int = DEFAULT_CHUNK,
) -> SimulationResult:
    """Write a simulated darknet capture to ``out`` and its ground truth to ``truth``.

    ``packets`` fixes the count (the period is then at least an hour, longer when the darknet
    would otherwise exceed PACKETS_PER_ADDRESS_SECOND); ``hours`` fixes the period (the count
    follows from the rate); both fix both; neither simulates one hour.
    """
    began = time.perf_counter()
    out, truth = Path(out), Path(truth)
    space = AddressSpace.parse(darknet)
    total, duration = _size(packets, hours, space.size)
    started, start_us = _start_us(start)
    rng = np.random.default_rng(seed)
    ranges = load_source_ranges()
    sources = plan_sources(rng, ranges, total, duration, space, outside_space(space))
    tally = Truth(sources, ranges)
    tmp = out.with_name(out.name + ".partial")
    chunks = 0
    try:
        with tmp.open("wb") as fh:
            writer = pw.PcapWriter(fh)
            for active, counts, bounds in _windows(rng, sources, duration, max(1, chunk_packets)):
                if not len(active):
                    continue
                w = generate(rng, sources, active, counts, bounds, space, start_us)
                tally.add(w, space)
                writer.write(w.cols)
                chunks += 1
            written = writer.bytes
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(out, f"cannot write capture: {exc.strerror or exc}") from None
    try:
        tally.write(truth)
    except OSError as exc:
        raise InputError(truth, f"cannot write truth file: {exc.strerror or exc}") from None
    return _result(out, truth, sources, tally, space, started, duration, written, chunks, began)


def _result(
    out: Path,
    truth: Path,
    sources: Sources,
    tally: Truth,
    space: AddressSpace,
    started: datetime,
    duration: int,
    written: int,
    chunks: int,
    began: float,
) -> SimulationResult:
    names = sorted({p.label for p in POPULATIONS})
    code = np.array([names.index(p.label) for p in POPULATIONS])[sources.pop]
    n_sources = np.bincount(code, minlength=len(names))
    n_packets = np.bincount(code, weights=tally.sent, minlength=len(names))
    return SimulationResult(
        pcap=out,
        truth=truth,
        packets=int(tally.sent.sum()),
        sources=len(sources),
        start=started,
        end=started + timedelta(microseconds=duration),
        darknet=tuple(str(p) for p in space.prefixes),
        labels={name: int(n) for name, n in zip(names, n_sources, strict=True) if n},
        label_packets={name: int(n) for name, n in zip(names, n_packets, strict=True) if n},
        outside_packets=int(tally.counters["outside"].sum()),
        bytes=written,
        chunks=chunks,
        seconds=time.perf_counter() - began,
    )
