"""Vectorised IP -> country, AS name, AS number and routed prefix for whole address columns.

Sources (``settings.ip_data``):

- ``bundled`` (default): geoip2fast's ``geoip2fast-asn.dat.gz``, derived from MaxMind GeoLite2
  Country + ASN. It carries AS *names* and routed prefixes but **no AS numbers**; ``asn`` is filled
  from a shipped name -> number table (the ISP registry's ``as_names`` plus
  ``data/as_numbers.toml``) and is -1 for every other AS.
- one or more ``.mmdb`` paths, comma-separated (GeoLite2-ASN, GeoLite2-Country or a compatible
  DB-IP/IPinfo file): every network of each file is read once into sorted arrays.

Either way the data become flat sorted numpy arrays (range starts/ends, label indices) searched
with :func:`numpy.searchsorted`, so a lookup is a handful of vector operations per column.
IPv4 only; IPv6 addresses are left unknown.
"""

from __future__ import annotations

import gzip
import ipaddress
import pickle
import tomllib
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
    """Sorted, non-overlapping IPv4 ranges, each pointing at a label index."""

    starts: np.ndarray  # uint32, ascending
    ends: np.ndarray  # uint32, inclusive
    lengths: np.ndarray  # uint8 prefix length
    labels: np.ndarray  # int32 index into the owner's label arrays

    def find(self, ips: np.ndarray) -> np.ndarray:
        """Row index of the range holding each address, -1 where none does."""
        idx = np.searchsorted(self.starts, ips, side="right").astype(np.int64) - 1
        safe = np.maximum(idx, 0)
        hit = (idx >= 0) & (ips <= self.ends[safe]) if len(self.starts) else idx >= 0
        return np.where(hit, idx, -1)

    @classmethod
    def build(cls, starts: Any, lengths: Any, labels: Any) -> RangeTable:
        s = np.asarray(starts, dtype=np.uint64)
        n = np.asarray(lengths, dtype=np.uint8)
        order = np.argsort(s, kind="stable")
        s, n = s[order], n[order]
        ends = s + (np.uint64(1) << (np.uint64(32) - n.astype(np.uint64))) - np.uint64(1)
        lab = np.asarray(labels, dtype=np.int32)[order]
        return cls(s.astype(_U32), ends.astype(_U32), n, lab)


@dataclass(frozen=True)
class Enrichment:
    """Columns for a looked-up address column; None / -1 where unknown."""

    asn: np.ndarray  # int64, -1 unknown
    as_name: np.ndarray  # object (str | None)
    country: np.ndarray  # object (ISO code | None); None also for private/reserved space
    prefix_start: np.ndarray  # uint32 network address of the routed prefix
    prefix_len: np.ndarray  # int16, -1 unknown
    reserved: np.ndarray  # bool: private, reserved or documentation space

    @property
    def prefix(self) -> np.ndarray:
        """Routed prefixes as text ('1.2.3.0/24'), None where unknown; formatted in Arrow."""
        out = np.full(len(self.prefix_len), None, dtype=object)
        known = self.prefix_len >= 0
        if known.any():
            out[known] = _cidr_text(self.prefix_start[known], self.prefix_len[known])
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

    def lookup(self, ips: np.ndarray) -> Enrichment:
        """Enrich a uint32 address column (or anything castable to it)."""
        ips = np.asarray(ips).astype(_U32, copy=False)
        # Searching sorted keys is ~5x faster than random ones (cache locality), sorting included.
        order = np.argsort(ips)
        ordered = ips[order]
        ci = np.empty(len(ips), np.int64)
        ai = np.empty(len(ips), np.int64)
        ci[order] = self.countries.find(ordered)
        ai[order] = self.networks.find(ordered)
        clab = np.where(ci >= 0, self.countries.labels[np.maximum(ci, 0)], -1)
        alab = np.where(ai >= 0, self.networks.labels[np.maximum(ai, 0)], -1)
        country = _take(self.country_labels, clab)
        reserved = np.where(clab >= 0, self.country_reserved[np.maximum(clab, 0)], False)
        return Enrichment(
            asn=np.where(alab >= 0, self.as_numbers[np.maximum(alab, 0)], -1).astype(np.int64),
            as_name=_take(self.as_names, alab),
            country=country,
            prefix_start=np.where(ai >= 0, self.networks.starts[np.maximum(ai, 0)], 0).astype(_U32),
            prefix_len=np.where(
                ai >= 0, self.networks.lengths[np.maximum(ai, 0)].astype(np.int16), -1
            ),
            reserved=reserved.astype(bool),
        )

    def lookup_text(self, ips: list[str]) -> Enrichment:
        """Enrich textual IPv4 addresses (convenience for the CLI and tests)."""
        return self.lookup(np.array([int(ipaddress.IPv4Address(i)) for i in ips], dtype=_U32))


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


def _bundled_file() -> Path:
    import geoip2fast

    path = Path(geoip2fast.__file__).with_name("geoip2fast-asn.dat.gz")
    if not path.is_file():
        raise ConfigError(f"{path}: geoip2fast data file missing; reinstall geoip2fast")
    return path


def _flatten(chunks: list[list[int]]) -> np.ndarray:
    return np.fromiter((v for chunk in chunks for v in chunk), dtype=np.uint64)


def _load_bundled(extra_numbers: dict[str, int]) -> IpData:
    path = _bundled_file()
    try:
        with gzip.open(path, "rb") as fh:
            version, info, _count, main = pickle.load(fh)  # trusted: shipped inside the wheel
    except (OSError, pickle.UnpicklingError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable geoip2fast data ({exc})") from None
    if version not in (120, 121) or not (info.get("country") and info.get("asn")):
        raise ConfigError(f"{path}: unsupported geoip2fast data layout (version {version})")
    (_i, _ia, names_c, names_asn, first, first_asn, id_c, id_asn, nlen, nlen_asn) = main
    codes = [n.split(":", 1)[0] for n in names_c]
    # geoip2fast's first 16 country labels are private/reserved/not-found pseudo-codes.
    reserved = np.array([i < 16 for i in range(len(codes))], dtype=bool)
    clabels = np.array([None if r else c for c, r in zip(codes, reserved, strict=True)], object)
    names = np.array(list(names_asn), dtype=object)
    numbers = np.array([extra_numbers.get(n, -1) for n in names_asn], dtype=np.int64)
    return IpData(
        source=f"geoip2fast {path.name} ({info.get('info', '?')})",
        countries=RangeTable.build(_flatten(first), _flatten(nlen), _flatten(id_c)),
        country_labels=clabels,
        country_reserved=reserved,
        networks=RangeTable.build(_flatten(first_asn), _flatten(nlen_asn), _flatten(id_asn)),
        as_names=names,
        as_numbers=numbers,
    )


def _load_mmdb(paths: list[Path], extra_numbers: dict[str, int]) -> IpData:
    import maxminddb

    c_starts: list[int] = []
    c_lens: list[int] = []
    c_codes: list[str] = []
    a_starts: list[int] = []
    a_lens: list[int] = []
    a_keys: list[tuple[int, str]] = []
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: ip_data MMDB file not found")
        try:
            reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"{path}: not a readable MMDB file ({exc})") from None
        with reader:
            for network, record in reader:
                if network.version != 4 or not isinstance(record, dict):
                    continue
                start, plen = int(network.network_address), network.prefixlen
                code = _mmdb_country(record)
                if code:
                    c_starts.append(start)
                    c_lens.append(plen)
                    c_codes.append(code)
                if (
                    "autonomous_system_number" in record
                    or "autonomous_system_organization" in record
                ):
                    a_starts.append(start)
                    a_lens.append(plen)
                    num = int(record.get("autonomous_system_number") or -1)
                    name = str(record.get("autonomous_system_organization") or "")
                    a_keys.append((num, name))
    cuniq, cidx = np.unique(np.array(c_codes, dtype=object), return_inverse=True)
    akeys = sorted(set(a_keys))
    aindex = {k: i for i, k in enumerate(akeys)}
    as_numbers = np.array(
        [n if n >= 0 else extra_numbers.get(name, -1) for n, name in akeys], dtype=np.int64
    )
    return IpData(
        source="mmdb " + ", ".join(p.name for p in paths),
        countries=RangeTable.build(c_starts, c_lens, np.asarray(cidx).ravel()),
        country_labels=np.array(list(cuniq), dtype=object),
        country_reserved=np.zeros(len(cuniq), dtype=bool),
        networks=RangeTable.build(a_starts, a_lens, [aindex[k] for k in a_keys]),
        as_names=np.array([name or None for _n, name in akeys], dtype=object),
        as_numbers=as_numbers,
    )


def _mmdb_country(record: dict[str, Any]) -> str | None:
    for key in ("country", "registered_country"):
        value = record.get(key)
        if isinstance(value, dict) and value.get("iso_code"):
            return str(value["iso_code"])
        if isinstance(value, str) and len(value) == 2:  # flat layouts (IPinfo, DB-IP lite)
            return value
    return None


def load_ip_data(settings: Settings) -> IpData:
    """Load the configured IP data ('bundled' or comma-separated .mmdb paths)."""
    numbers = shipped_as_numbers()
    source = str(settings.ip_data).strip()
    if source in ("", "bundled"):
        return _load_bundled(numbers)
    paths = [Path(p.strip()).expanduser() for p in source.split(",") if p.strip()]
    if not all(p.suffix == ".mmdb" for p in paths):
        raise ConfigError(f"ip_data {source!r}: expected 'bundled' or paths to .mmdb files")
    return _load_mmdb(paths, numbers)
