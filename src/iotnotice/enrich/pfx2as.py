"""Prefix-to-AS files (CAIDA RouteViews pfx2as, pyasn IPASN) as the source of AS numbers.

Accepted line layouts, detected per line, plain or gzip/bzip2-compressed (by magic bytes):

- CAIDA RouteViews ``routeviews-rv2-YYYYMMDD-HHMM.pfx2as`` (IPv4) and ``routeviews-rv6-…``
  (IPv6): ``prefix<TAB>length<TAB>AS``;
- pyasn's IPASN files (``pyasn_util_convert.py`` output, ``ipasn_YYYYMMDD.dat``):
  ``prefix/length<TAB>AS``, with ``;`` comment lines (``#`` and blank lines are skipped too).

The AS field of a CAIDA file may list several origins: a multi-origin prefix (MOAS) as
``a_b_c`` and an AS set as ``a,b`` (some tools write ``{a,b}``); the two combine. We take the
**first listed AS**: since 2010-10-27 CAIDA orders MOAS origins by how many RouteViews peers saw
each one, so the first is the origin most of the Internet routes to; an AS set is an aggregate
with no single origin, and its first member is as good as any (pyasn's own converter also keeps
one member). Routes with origin AS 0 (RFC 7607: never a valid origin) and default routes (/0)
are left out. A prefix listed twice keeps its last AS (as pyasn's loader does).

A malformed line is an error, not skipped: these files are machine-written, so a bad line means
a wrong, damaged or truncated file, and a silently thinned table would send notices to the
wrong ISP or to none. The error names the file, the line number and the text, and counts the
other bad lines.

Parsing is vectorised over the file's bytes with numpy (IPv6 lines, a few hundred thousand at
most, are parsed one by one and only when IPv6 is asked for). Nested prefixes are flattened
once into disjoint ranges owned by their longest matching prefix, so a lookup is one
``searchsorted`` like every other table in :mod:`iotnotice.enrich.ipdata`.
"""

from __future__ import annotations

import bz2
import gzip
import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from iotnotice.enrich.ipdata import IpData, RangeTable
from iotnotice.errors import ConfigError

__all__ = ["Routes", "flatten_prefixes", "is_pfx2as_path", "overlay_routes", "read_routes"]

_U64 = np.uint64
_V6_LINE = re.compile(r"^\s*([0-9A-Fa-f:.]+)(?:/|\s+)(\d{1,3})\s+(\S+)\s*$")
_AS_FIELD = re.compile(r"^\{?(\d{1,10})[\d,_{}]*$")


@dataclass(frozen=True)
class Routes:
    """Routed prefixes of one address family (IPv6: keyed by the upper 64 bits)."""

    starts: np.ndarray  # uint64 network address
    lengths: np.ndarray  # uint8 prefix length (IPv6 longer than /64 widened to /64)
    asns: np.ndarray  # int64 origin AS

    @classmethod
    def empty(cls) -> Routes:
        return cls(np.empty(0, _U64), np.empty(0, np.uint8), np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.starts)


def is_pfx2as_path(entry: str) -> bool:
    """True for an ``ip_data`` entry naming a prefix-to-AS file rather than bundled/MMDB data."""
    if entry.startswith("pfx2as:"):
        return True
    name = Path(entry).name.lower()
    for ext in (".gz", ".bz2"):
        name = name.removesuffix(ext)
    return name.endswith(".pfx2as") or (name.startswith("ipasn") and name.endswith(".dat"))


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path}: ip_data pfx2as file not found")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable compressed pfx2as file ({exc})") from None
    return raw


class _Lines:
    """Line and token boundaries of a text buffer, found with numpy."""

    # Field separators of an IPv4 line: whitespace, '/' (pyasn) and the dots of the address.
    _SEP = np.zeros(256, dtype=bool)
    _SEP[[9, 10, 13, 32, ord("/"), ord(".")]] = True

    def __init__(self, data: bytes) -> None:
        if not data.endswith(b"\n"):
            data += b"\n"
        self.data = data
        self.buf = buf = np.frombuffer(data, np.uint8)
        self.ends = np.flatnonzero(buf == 10)
        self.starts = np.concatenate(([0], self.ends[:-1] + 1))
        first = buf[self.starts]
        self.comment = (first == ord(";")) | (first == ord("#"))
        self.has_colon = _any_between(np.flatnonzero(buf == ord(":")), self.starts, self.ends)
        sep = self._SEP[buf]
        before = np.concatenate(([True], sep[:-1]))
        after = np.concatenate((sep[1:], [True]))
        self.tok_start = np.flatnonzero(~sep & before)
        self.tok_end = np.flatnonzero(~sep & after) + 1
        self.first_tok = np.searchsorted(self.tok_start, self.starts)
        self.ntok = np.diff(self.first_tok, append=len(self.tok_start))

    def text(self, line: int) -> str:
        raw = self.data[int(self.starts[line]) : int(self.ends[line])]
        return raw.decode("utf-8", errors="replace").rstrip("\r")


def _any_between(positions: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether any of the sorted ``positions`` lies in each [start, end)."""
    if len(positions) == 0:
        return np.zeros(len(starts), dtype=bool)
    nxt = np.searchsorted(positions, starts)
    return (nxt < len(positions)) & (positions[np.minimum(nxt, len(positions) - 1)] < ends)


def _digits(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """Decimal value of each byte run [start, end), -1 where it is empty, too long or not digits."""
    n = ends - starts
    ok = (n >= 1) & (n <= width)
    value = np.zeros(len(starts), np.int64)
    for k in range(min(width, int(n.max(initial=0)))):
        inside = n > k
        d = buf[np.minimum(starts + k, len(buf) - 1)].astype(np.int64) - 48
        ok &= ~inside | ((d >= 0) & (d <= 9))
        value = np.where(inside, value * 10 + d, value)
    return np.where(ok, value, -1)


def _first_as(lines: _Lines, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """First AS number of each AS field ('a', 'a_b', 'a,b', '{a,b}'), -1 where malformed."""
    buf = lines.buf
    allowed = np.zeros(256, dtype=bool)
    allowed[[*range(48, 58), ord(","), ord("_"), ord("{"), ord("}")]] = True
    clean = ~_any_between(np.flatnonzero(~allowed[buf]), starts, ends)
    head = starts + (buf[starts] == ord("{"))
    nondigit = np.flatnonzero((buf < 48) | (buf > 57))
    run_end = np.minimum(nondigit[np.searchsorted(nondigit, head)], ends)
    value = _digits(buf, head, run_end, 10)
    return np.where(clean & (value < 2**32), value, -1)


def _ipv4_rows(lines: _Lines, rows: np.ndarray) -> tuple[Routes, np.ndarray]:
    """Parse IPv4 lines (six tokens: a b c d length AS); also returns their malformed mask."""
    t0 = lines.first_tok[rows]
    ts, te, buf = lines.tok_start, lines.tok_end, lines.buf
    bad = lines.ntok[rows] != 6
    t0 = np.where(bad, 0, t0)  # keep indexing in range; these rows are reported anyway
    tok = [np.minimum(t0 + k, len(ts) - 1) for k in range(6)]
    octets = [_digits(buf, ts[t], te[t], 3) for t in tok[:4]]
    for k in range(3):  # exactly one '.' between the octets
        bad |= (buf[te[tok[k]]] != ord(".")) | (ts[tok[k + 1]] != te[tok[k]] + 1)
    bad |= buf[te[tok[3]]] == ord(".")
    bad |= np.isin(buf[te[tok[4]]], [ord("/"), ord(".")])
    length = _digits(buf, ts[tok[4]], te[tok[4]], 2)
    asn = _first_as(lines, ts[tok[5]], te[tok[5]])
    for o in octets:
        bad |= (o < 0) | (o > 255)
    bad |= (length < 0) | (length > 32) | (asn < 0)
    start = np.zeros(len(rows), _U64)
    for o in octets:
        start = (start << _U64(8)) | np.maximum(o, 0).astype(_U64)
    return Routes(start, np.clip(length, 0, 32).astype(np.uint8), asn), bad


def _ipv6_rows(lines: _Lines, rows: np.ndarray) -> tuple[Routes, np.ndarray]:
    """Parse IPv6 lines one by one (there are few); keys are the upper 64 bits."""
    starts: list[int] = []
    lengths: list[int] = []
    asns: list[int] = []
    bad = np.zeros(len(rows), dtype=bool)
    for i, line in enumerate(rows.tolist()):
        m = _V6_LINE.match(lines.text(line))
        a = _AS_FIELD.match(m.group(3)) if m else None
        try:
            packed = socket.inet_pton(socket.AF_INET6, m.group(1)) if m else b""
        except OSError:
            packed = b""
        if not (m and a and packed and int(m.group(2)) <= 128 and int(a.group(1)) < 2**32):
            bad[i] = True
            continue
        starts.append(int.from_bytes(packed[:8], "big"))
        lengths.append(min(int(m.group(2)), 64))
        asns.append(int(a.group(1)))
    return Routes(
        np.array(starts, _U64), np.array(lengths, np.uint8), np.array(asns, np.int64)
    ), bad


def _clean(routes: Routes, bits: int) -> Routes:
    """Mask host bits, drop /0 and AS 0, keep the last AS of a repeated prefix."""
    keep = (routes.lengths > 0) & (routes.asns > 0)
    s, n, a = routes.starts[keep], routes.lengths[keep], routes.asns[keep]
    host = (_U64(bits) - n.astype(_U64)) % _U64(64)
    s = (s >> host) << host  # lengths are >= 1, so host < 64 and the shift is defined
    order = np.lexsort((np.arange(len(s)), n, s))
    s, n, a = s[order], n[order], a[order]
    last = np.ones(len(s), dtype=bool)
    last[:-1] = (s[1:] != s[:-1]) | (n[1:] != n[:-1])
    return Routes(s[last], n[last], a[last])


def read_routes(path: Path, ipv6: bool = False) -> tuple[Routes, Routes]:
    """IPv4 and IPv6 routes of one file (IPv6 empty unless ``ipv6``); ConfigError if malformed."""
    lines = _Lines(_read_bytes(path))
    data = ~lines.comment & (lines.ntok > 0)
    rows4 = np.flatnonzero(data & ~lines.has_colon)
    rows6 = np.flatnonzero(data & lines.has_colon)
    v4, bad4 = _ipv4_rows(lines, rows4)
    v6, bad6 = _ipv6_rows(lines, rows6) if ipv6 else (Routes.empty(), np.zeros(0, bool))
    bad = np.sort(np.concatenate((rows4[bad4], rows6[bad6] if ipv6 else rows6[:0])))
    if len(bad):
        more = f"; {len(bad)} malformed lines in all" if len(bad) > 1 else ""
        raise ConfigError(
            f"{path}:{bad[0] + 1}: malformed pfx2as line {lines.text(int(bad[0]))!r} (expected "
            f"'prefix<TAB>length<TAB>AS' or pyasn's 'prefix/length<TAB>AS'{more})"
        )
    if len(rows4) + len(rows6) == 0:
        raise ConfigError(f"{path}: no prefixes in pfx2as file")
    return _clean(v4, 32), _clean(v6, 64)


def flatten_prefixes(routes: Routes, labels: np.ndarray, bits: int) -> RangeTable:
    """Disjoint ranges, each owned by the longest prefix covering it (longest-prefix match).

    The boundaries of all prefixes cut the address space into elementary ranges; every
    prefix length, shortest first, paints the ranges its prefixes cover (prefixes of one
    length are disjoint, so a running sum marks them), and longer prefixes paint over shorter.
    """
    top = _U64(2**bits - 1)
    span = np.where(
        routes.lengths == 0, top, (_U64(1) << (_U64(bits) - routes.lengths.astype(_U64))) - _U64(1)
    )
    ends = routes.starts + span
    cuts, _ = _unique(np.concatenate((routes.starts, ends[ends < top] + _U64(1))))
    owner = np.full(len(cuts), -1, np.int64)
    for length in np.unique(routes.lengths):
        sel = np.flatnonzero(routes.lengths == length)
        first = np.searchsorted(cuts, routes.starts[sel])
        stop = np.where(ends[sel] < top, np.searchsorted(cuts, ends[sel] + _U64(1)), len(cuts))
        mark = np.zeros(len(cuts) + 1, np.int64)
        mark[first] += sel + 1
        mark[stop] -= sel + 1
        painted = np.cumsum(mark[:-1])
        owner = np.where(painted > 0, painted - 1, owner)
    range_ends = np.concatenate((cuts[1:] - _U64(1), [top]))
    keep = owner >= 0
    own = owner[keep]
    dtype = np.uint32 if bits == 32 else _U64
    return RangeTable(
        starts=cuts[keep].astype(dtype),
        ends=range_ends[keep].astype(dtype),
        lengths=routes.lengths[own],
        labels=np.asarray(labels)[own].astype(np.int32),
        prefix_starts=routes.starts[own].astype(dtype),
    )


def _merge(base: RangeTable, routes: RangeTable, bits: int) -> tuple[RangeTable, np.ndarray]:
    """Overlay two disjoint-range tables; labels become row indices of the returned pairs.

    Each pair is (route label, base label), -1 where that table has no range.
    """
    top = _U64(2**bits - 1)
    pieces = []
    for table in (base, routes):
        s, e = table.starts.astype(_U64), table.ends.astype(_U64)
        pieces += [s, e[e < top] + _U64(1)]
    cuts, _ = _unique(np.concatenate(pieces))
    dtype = base.starts.dtype
    bi, ri = base.find(cuts.astype(dtype)), routes.find(cuts.astype(dtype))
    keep = (bi >= 0) | (ri >= 0)
    ends = np.concatenate((cuts[1:] - _U64(1), [top]))[keep]
    bi, ri = bi[keep], ri[keep]
    b, r = np.maximum(bi, 0), np.maximum(ri, 0)
    pairs = np.stack(
        (
            np.where(ri >= 0, _gather(routes.labels, r), -1),
            np.where(bi >= 0, _gather(base.labels, b), -1),
        ),
        axis=1,
    )
    in_route = ri >= 0
    table = RangeTable(
        starts=cuts[keep].astype(dtype),
        ends=ends.astype(dtype),
        lengths=np.where(in_route, _gather(routes.lengths, r), _gather(base.lengths, b)).astype(
            np.uint8
        ),
        labels=np.arange(len(pairs), dtype=np.int32),
        prefix_starts=np.where(
            in_route, _gather(routes.network_starts, r), _gather(base.network_starts, b)
        ).astype(dtype),
    )
    return table, pairs


def _unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index among them (sort-based: numpy's hash
    path is several times slower on a million 64-bit keys)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(len(values), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(values), np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _gather(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] that tolerates an empty ``values`` (idx is then all zeros and unused)."""
    if len(values) == 0:
        return np.zeros(len(idx), dtype=values.dtype)
    return values[idx]


def overlay_routes(base: IpData, paths: list[Path], ipv6: bool = False) -> IpData:
    """``base`` with AS numbers and routed prefixes taken from pfx2as files where they cover.

    Countries and AS names stay the base's (a pfx2as file has neither); where no route covers
    an address the base's own AS data stays. Later files win for a prefix listed twice.
    """
    v4, v6 = Routes.empty(), Routes.empty()
    for path in paths:
        r4, r6 = read_routes(path, ipv6)
        v4, v6 = _concat(v4, r4), _concat(v6, r6)
    if len(paths) > 1:  # one file's routes are clean already
        v4, v6 = _clean(v4, 32), _clean(v6, 64)
    asns, inverse = _unique(np.concatenate((v4.asns, v6.asns)))
    t4, p4 = _merge(base.networks, flatten_prefixes(v4, inverse[: len(v4)], 32), 32)
    t6, p6 = None, np.empty((0, 2), np.int64)
    if base.networks6 is not None:
        t6, p6 = _merge(base.networks6, flatten_prefixes(v6, inverse[len(v4) :], 64), 64)
    pairs = np.concatenate((p4, p6))
    width = len(base.as_names) + 1
    keys, index = _unique((pairs[:, 0] + 1) * width + pairs[:, 1] + 1)
    route, own = keys // width - 1, keys % width - 1
    from_route = _gather(asns, np.maximum(route, 0))
    numbers = np.where(route >= 0, from_route, _gather(base.as_numbers, np.maximum(own, 0)))
    names = np.append(base.as_names, np.array([None], dtype=object))[np.where(own >= 0, own, -1)]
    t4 = replace(t4, labels=index[: len(p4)].astype(np.int32))
    if t6 is not None:
        t6 = replace(t6, labels=index[len(p4) :].astype(np.int32))
    files = ", ".join(p.name for p in paths)
    return replace(
        base,
        source=f"{base.source} + pfx2as {files} ({len(v4) + len(v6):,} prefixes)".lstrip(" +"),
        networks=t4,
        as_names=np.asarray(names, dtype=object),
        as_numbers=numbers.astype(np.int64),
        networks6=t6,
    )


def _concat(a: Routes, b: Routes) -> Routes:
    return Routes(
        np.concatenate((a.starts, b.starts)),
        np.concatenate((a.lengths, b.lengths)),
        np.concatenate((a.asns, b.asns)),
    )
