"""Vectorised IP -> country, AS name, AS number and routed prefix for whole address columns.

Sources (``settings.ip_data``):

- ``bundled`` (default): geoip2fast's ``geoip2fast-asn.dat.gz``, derived from MaxMind GeoLite2
  Country + ASN. It carries AS *names* and routed prefixes but **no AS numbers**; ``asn`` is filled
  from a shipped name -> number table (the ISP registry's ``as_names`` plus
  ``data/as_numbers.toml``) and is -1 for every other AS.
- one or more ``.mmdb`` paths, comma-separated (GeoLite2-ASN, GeoLite2-Country or a compatible
  DB-IP/IPinfo file): every network of each file is read once into sorted arrays.
- prefix-to-AS files (CAIDA RouteViews pfx2as, pyasn IPASN; see :mod:`iotnotice.enrich.pfx2as`),
  alone or after either of the above (``bundled,/data/routeviews-rv2-20250101-1200.pfx2as.gz``):
  their AS numbers and routed prefixes override the others' wherever they have a route, while
  countries and AS names stay those of the bundled/MMDB data.

Either way the data become flat sorted numpy arrays (range starts/ends, label indices) searched
with :func:`numpy.searchsorted`, so a lookup is a handful of vector operations per column.
IPv6 (``lookup6``) is keyed by the upper 64 bits of the address: routed IPv6 prefixes are /64 or
shorter, so the upper half decides.
"""

from __future__ import annotations

import gzip
import ipaddress
import pickle
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.errors import ConfigError
from iotnotice.settings import Settings

__all__ = ["Enrichment", "IpData", "RangeTable", "load_ip_data", "shipped_as_numbers"]

_U32 = np.uint32


@dataclass(frozen=True)
class RangeTable:
    """Sorted, non-overlapping address ranges, each pointing at a label index.

    Keys are IPv4 addresses (uint32) or the upper 64 bits of IPv6 addresses (uint64): routed
    IPv6 prefixes are /64 or shorter, so the upper half decides; a longer prefix is widened to
    its /64.
    """

    starts: np.ndarray  # uint32 / uint64, ascending
    ends: np.ndarray  # inclusive
    lengths: np.ndarray  # uint8 prefix length
    labels: np.ndarray  # int32 index into the owner's label arrays
    # Network address of the prefix owning each range, where ranges are pieces of prefixes
    # (nested pfx2as prefixes flattened); None when every range is a whole prefix.
    prefix_starts: np.ndarray | None = None

    @property
    def network_starts(self) -> np.ndarray:
        """Network address of the routed prefix each range belongs to."""
        return self.starts if self.prefix_starts is None else self.prefix_starts

    @classmethod
    def empty(cls, bits: int = 32) -> RangeTable:
        return cls.build([], [], [], bits=bits)

    def find(self, ips: np.ndarray) -> np.ndarray:
        """Row index of the range holding each address, -1 where none does."""
        idx = np.searchsorted(self.starts, ips, side="right").astype(np.int64) - 1
        safe = np.maximum(idx, 0)
        hit = (idx >= 0) & (ips <= self.ends[safe]) if len(self.starts) else idx >= 0
        return np.where(hit, idx, -1)

    @classmethod
    def build(cls, starts: Any, lengths: Any, labels: Any, bits: int = 32) -> RangeTable:
        s = np.asarray(starts, dtype=np.uint64)
        n = np.asarray(lengths, dtype=np.uint8)
        order = np.argsort(s, kind="stable")
        s, n = s[order], n[order]
        host_bits = np.uint64(bits) - np.minimum(n, bits).astype(np.uint64)
        # (1 << 64) overflows uint64; a /0 spans everything, so build the mask from ~0 instead.
        span = np.where(
            host_bits >= 64,
            np.uint64(2**64 - 1),
            (np.uint64(1) << (host_bits % np.uint64(64))) - np.uint64(1),
        )
        ends = s + span
        lab = np.asarray(labels, dtype=np.int32)[order]
        dtype = _U32 if bits == 32 else np.uint64
        return cls(s.astype(dtype), ends.astype(dtype), n, lab)


@dataclass(frozen=True)
class Enrichment:
    """Columns for a looked-up address column; None / -1 where unknown."""

    asn: np.ndarray  # int64, -1 unknown
    as_name: np.ndarray  # object (str | None)
    country: np.ndarray  # object (ISO code | None); None also for private/reserved space
    prefix_start: np.ndarray  # uint32 network address of the routed prefix
    prefix_len: np.ndarray  # int16, -1 unknown
    reserved: np.ndarray  # bool: private, reserved or documentation space
    family: int = 4  # 6: prefix_start holds the upper 64 bits of the IPv6 network

    @property
    def prefix(self) -> np.ndarray:
        """Routed prefixes as text ('1.2.3.0/24'), None where unknown; formatted in Arrow."""
        out = np.full(len(self.prefix_len), None, dtype=object)
        known = self.prefix_len >= 0
        if known.any() and self.family == 4:
            out[known] = _cidr_text(self.prefix_start[known], self.prefix_len[known])
        elif known.any():
            out[known] = [
                str(ipaddress.IPv6Network((int(s) << 64, int(n)), strict=False))
                for s, n in zip(self.prefix_start[known], self.prefix_len[known], strict=True)
            ]
        return out


def _cidr_text(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    parts = [
        pa.array((starts >> np.uint32(s)) & np.uint32(0xFF)).cast(pa.string())
        for s in (24, 16, 8, 0)
    ]
    dotted = pc.binary_join_element_wise(*parts, ".")
    text = pc.binary_join_element_wise(dotted, pa.array(lengths).cast(pa.string()), "/")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


@dataclass(frozen=True)
class IpData:
    """Loaded IP data: a country table and an AS table over shared label arrays."""

    source: str
    countries: RangeTable
    country_labels: np.ndarray  # object: code, None for private/reserved/not found
    country_reserved: np.ndarray  # bool per country label
    networks: RangeTable
    as_names: np.ndarray  # object
    as_numbers: np.ndarray  # int64, -1 unknown

    countries6: RangeTable | None = None  # keyed by the upper 64 bits of IPv6 addresses
    networks6: RangeTable | None = None

    def lookup(self, ips: np.ndarray) -> Enrichment:
        """Enrich a uint32 IPv4 address column (or anything castable to it)."""
        keys = np.asarray(ips).astype(_U32, copy=False)
        return self._lookup(keys, self.countries, self.networks, 4)

    def lookup6(self, addrs: Sequence[bytes | None]) -> Enrichment:
        """Enrich 16-byte IPv6 addresses (None entries stay unknown)."""
        if self.countries6 is None or self.networks6 is None:
            raise ConfigError("IPv6 tables not loaded (use load_ip_data(settings, ipv6=True))")
        keys = np.fromiter(
            (int.from_bytes(a[:8], "big") if a else 0 for a in addrs), np.uint64, len(addrs)
        )
        return self._lookup(keys, self.countries6, self.networks6, 6)

    def _lookup(
        self, keys: np.ndarray, countries: RangeTable, networks: RangeTable, family: int
    ) -> Enrichment:
        # Searching sorted keys is ~5x faster than random ones (cache locality), sorting included.
        order = np.argsort(keys)
        ordered = keys[order]
        ci = np.empty(len(keys), np.int64)
        ai = np.empty(len(keys), np.int64)
        ci[order] = countries.find(ordered)
        ai[order] = networks.find(ordered)
        clab = _pick(countries.labels, ci, -1)
        alab = _pick(networks.labels, ai, -1)
        reserved = _pick(self.country_reserved, clab, False)
        return Enrichment(
            asn=_pick(self.as_numbers, alab, -1).astype(np.int64),
            as_name=_take(self.as_names, alab),
            country=_take(self.country_labels, clab),
            prefix_start=_pick(networks.network_starts, ai, 0).astype(keys.dtype),
            prefix_len=_pick(networks.lengths.astype(np.int16), ai, -1),
            reserved=reserved.astype(bool),
            family=family,
        )

    def lookup_text(self, ips: Sequence[str]) -> Enrichment:
        """Enrich textual addresses of one family (convenience for the CLI and tests)."""
        parsed = [ipaddress.ip_address(i) for i in ips]
        if parsed and all(a.version == 6 for a in parsed):
            return self.lookup6([a.packed for a in parsed])
        return self.lookup(np.array([int(a) for a in parsed], dtype=_U32))


def _pick(values: np.ndarray, idx: np.ndarray, missing: Any) -> np.ndarray:
    """values[idx], ``missing`` where idx < 0 (also when ``values`` is empty)."""
    if len(values) == 0:
        return np.full(len(idx), missing, dtype=values.dtype)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], missing)


def _take(labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    padded = np.append(labels, np.array([None], dtype=object))
    return padded[np.where(idx >= 0, idx, len(labels))]


def shipped_as_numbers() -> dict[str, int]:
    """AS name -> number: well-known networks plus every ISP of the shipped registry."""
    text = resources.files("iotnotice.enrich").joinpath("data/as_numbers.toml").read_text("utf-8")
    table = {name: int(asn) for name, asn in tomllib.loads(text)["as_numbers"].items()}
    from iotnotice.enrich.registry import shipped_registry

    table.update(shipped_registry().as_number_table())
    return table


def _bundled_file(ipv6: bool) -> Path:
    import geoip2fast

    name = "geoip2fast-asn-ipv6.dat.gz" if ipv6 else "geoip2fast-asn.dat.gz"
    path = Path(geoip2fast.__file__).with_name(name)
    if not path.is_file():
        raise ConfigError(f"{path}: geoip2fast data file missing; reinstall geoip2fast")
    return path


def _split(
    chunks: list[list[int]], *others: list[list[int]]
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Flatten geoip2fast's chunked lists into (IPv4 columns, IPv6 columns keyed by top 64 bits)."""
    starts = [v for chunk in chunks for v in chunk]
    rest = [[v for chunk in other for v in chunk] for other in others]
    is4 = np.fromiter((v <= 0xFFFFFFFF for v in starts), dtype=bool, count=len(starts))
    s4 = np.fromiter((v for v in starts if v <= 0xFFFFFFFF), dtype=np.uint64)
    s6 = np.fromiter((v >> 64 for v in starts if v > 0xFFFFFFFF), dtype=np.uint64)
    cols = [np.asarray(r, dtype=np.int64) for r in rest]
    return (s4, *(c[is4] for c in cols)), (s6, *(c[~is4] for c in cols))


def _load_bundled(extra_numbers: dict[str, int], ipv6: bool) -> IpData:
    path = _bundled_file(ipv6)
    try:
        with gzip.open(path, "rb") as fh:
            version, info, _count, main = pickle.load(fh)  # trusted: shipped inside the wheel
    except (OSError, pickle.UnpicklingError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable geoip2fast data ({exc})") from None
    if version not in (120, 121) or not (info.get("country") and info.get("asn")):
        raise ConfigError(f"{path}: unsupported geoip2fast data layout (version {version})")
    (_i, _ia, names_c, names_asn, first, first_asn, id_c, id_asn, nlen, nlen_asn) = main
    codes = [n.split(":", 1)[0] for n in names_c]
    # geoip2fast's first 16 country labels are private/reserved/not-found pseudo-codes; other
    # labels that are not ISO 3166 alpha-2 codes (regions such as "ASIA") are no country.
    reserved = np.array([i < 16 for i in range(len(codes))], dtype=bool)
    clabels = np.array(
        [None if r or len(c) != 2 else c for c, r in zip(codes, reserved, strict=True)], object
    )
    c4, c6 = _split(first, nlen, id_c)
    a4, a6 = _split(first_asn, nlen_asn, id_asn)
    return IpData(
        source=f"geoip2fast {path.name} ({info.get('info', '?')})",
        countries=RangeTable.build(c4[0], c4[1], c4[2]),
        country_labels=clabels,
        country_reserved=reserved,
        networks=RangeTable.build(a4[0], a4[1], a4[2]),
        as_names=np.array(list(names_asn), dtype=object),
        as_numbers=np.array([extra_numbers.get(n, -1) for n in names_asn], dtype=np.int64),
        countries6=RangeTable.build(c6[0], c6[1], c6[2], bits=64) if ipv6 else None,
        networks6=RangeTable.build(a6[0], a6[1], a6[2], bits=64) if ipv6 else None,
    )


class _MmdbRows:
    """Networks collected from MMDB files, per address family."""

    def __init__(self) -> None:
        self.country: dict[int, tuple[list[int], list[int], list[str]]] = {
            4: ([], [], []),
            6: ([], [], []),
        }
        self.asn: dict[int, tuple[list[int], list[int], list[tuple[int, str]]]] = {
            4: ([], [], []),
            6: ([], [], []),
        }

    def add(self, network: Any, record: dict[str, Any]) -> None:
        start, plen = int(network.network_address), network.prefixlen
        family = network.version
        if family == 6:
            if start >> 96 == 0 or start >> 96 == 0xFFFF or (start >> 112) == 0x2002:
                return  # IPv4-mapped / 6to4 aliases of IPv4 space: answered by the IPv4 table
            start >>= 64
        code = _mmdb_country(record)
        if code:
            for col, value in zip(self.country[family], (start, plen, code), strict=True):
                col.append(value)  # type: ignore[attr-defined]
        if "autonomous_system_number" in record or "autonomous_system_organization" in record:
            key = (
                int(record.get("autonomous_system_number") or -1),
                str(record.get("autonomous_system_organization") or ""),
            )
            for col, value in zip(self.asn[family], (start, plen, key), strict=True):
                col.append(value)  # type: ignore[attr-defined]


def _load_mmdb(paths: list[Path], extra_numbers: dict[str, int], ipv6: bool) -> IpData:
    import maxminddb

    rows = _MmdbRows()
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: ip_data MMDB file not found")
        try:
            reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"{path}: not a readable MMDB file ({exc})") from None
        with reader:
            for network, record in reader:
                if isinstance(record, dict) and (ipv6 or network.version == 4):
                    rows.add(network, record)
    codes = sorted(set(rows.country[4][2]) | set(rows.country[6][2]))
    cindex = {c: i for i, c in enumerate(codes)}
    akeys = sorted(set(rows.asn[4][2]) | set(rows.asn[6][2]))
    aindex = {k: i for i, k in enumerate(akeys)}

    def tables(family: int, bits: int) -> tuple[RangeTable, RangeTable]:
        cs, cl, cc = rows.country[family]
        ast, al, ak = rows.asn[family]
        return (
            RangeTable.build(cs, cl, [cindex[c] for c in cc], bits=bits),
            RangeTable.build(ast, al, [aindex[k] for k in ak], bits=bits),
        )

    countries, networks = tables(4, 32)
    countries6, networks6 = tables(6, 64) if ipv6 else (None, None)
    return IpData(
        source="mmdb " + ", ".join(p.name for p in paths),
        countries=countries,
        country_labels=np.array(codes, dtype=object),
        country_reserved=np.zeros(len(codes), dtype=bool),
        networks=networks,
        as_names=np.array([name or None for _n, name in akeys], dtype=object),
        as_numbers=np.array(
            [n if n >= 0 else extra_numbers.get(name, -1) for n, name in akeys], dtype=np.int64
        ),
        countries6=countries6,
        networks6=networks6,
    )


def _mmdb_country(record: dict[str, Any]) -> str | None:
    for key in ("country", "registered_country"):
        value = record.get(key)
        if isinstance(value, dict) and value.get("iso_code"):
            return str(value["iso_code"])
        if isinstance(value, str) and len(value) == 2:  # flat layouts (IPinfo, DB-IP lite)
            return value
    return None


def _empty(ipv6: bool) -> IpData:
    """No countries and no AS data: the base when ``ip_data`` names pfx2as files only."""
    return IpData(
        source="",
        countries=RangeTable.empty(),
        country_labels=np.empty(0, dtype=object),
        country_reserved=np.empty(0, dtype=bool),
        networks=RangeTable.empty(),
        as_names=np.empty(0, dtype=object),
        as_numbers=np.empty(0, dtype=np.int64),
        countries6=RangeTable.empty(64) if ipv6 else None,
        networks6=RangeTable.empty(64) if ipv6 else None,
    )


@dataclass(frozen=True)
class _Sources:
    """The entries of ``settings.ip_data``, sorted by kind."""

    bundled: bool
    mmdb: list[Path]
    pfx2as: list[Path]

    @classmethod
    def parse(cls, text: str) -> _Sources:
        from iotnotice.enrich.pfx2as import is_pfx2as_path

        entries = [e.strip() for e in text.split(",") if e.strip()] or ["bundled"]
        bundled, mmdb, pfx2as = False, [], []
        for entry in entries:
            if entry == "bundled":
                bundled = True
            elif is_pfx2as_path(entry):
                pfx2as.append(Path(entry.removeprefix("pfx2as:")).expanduser())
            elif entry.endswith(".mmdb"):
                mmdb.append(Path(entry).expanduser())
            else:
                raise ConfigError(
                    f"ip_data entry {entry!r}: expected 'bundled', .mmdb paths or pfx2as files "
                    "(*.pfx2as[.gz|.bz2], ipasn*.dat[.gz|.bz2] or pfx2as:PATH)"
                )
        if bundled and mmdb:
            raise ConfigError(f"ip_data {text!r}: use either 'bundled' or .mmdb files, not both")
        return cls(bundled, mmdb, pfx2as)


def load_ip_data(settings: Settings, ipv6: bool = False) -> IpData:
    """Load the configured IP data (``settings.ip_data``: comma-separated sources).

    'bundled' (the default) or .mmdb paths give countries, AS names/numbers and prefixes;
    pfx2as files (:mod:`iotnotice.enrich.pfx2as`) then override AS numbers and routed
    prefixes wherever they have a route. pfx2as files alone give no countries or AS names.
    With ``ipv6`` the IPv6 tables are loaded too (bundled: geoip2fast's IPv4+IPv6 file, which
    takes about twice as long to load).
    """
    numbers = shipped_as_numbers()
    sources = _Sources.parse(str(settings.ip_data))
    if sources.mmdb:
        data = _load_mmdb(sources.mmdb, numbers, ipv6)
    elif sources.bundled:
        data = _load_bundled(numbers, ipv6)
    else:
        data = _empty(ipv6)
    if sources.pfx2as:
        from iotnotice.enrich.pfx2as import overlay_routes

        data = overlay_routes(data, sources.pfx2as, ipv6)
    return data
