"""The ISP registry: which ISP gets reports for which addresses, how and in which language.

A TOML file (shipped default: ``data/isp_registry.toml``, Japanese access ISPs; or the file named
by ``settings.isp_registry``) with one ``[[isp]]`` table per ISP, imported into the ``isps``
table. Matching is by AS number, then by AS name (the bundled IP data has names only), then by
the ISP's extra prefixes, which win over both.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import Isp
from iotnotice.errors import ConfigError
from iotnotice.settings import Settings

__all__ = [
    "IspEntry",
    "Registry",
    "check_registry",
    "import_registry",
    "load_registry",
    "parse_registry",
    "shipped_registry",
]

_LANGUAGES = {"ja", "en"}
_DELIVERY = {"email", "api", "both"}
_FORMATS = {"csv", "xarf", "json"}


@dataclass(frozen=True)
class IspEntry:
    """One ISP of the registry."""

    name: str
    display_name: str
    display_name_ja: str = ""
    country: str = "JP"
    asns: tuple[int, ...] = ()
    as_names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    language: str = "ja"
    delivery: str = "email"
    formats: tuple[str, ...] = ("csv",)
    interval_hours: int = 24
    pgp_key: str = ""


@dataclass(frozen=True)
class Registry:
    """All ISPs, with lookup tables for vectorised matching."""

    isps: tuple[IspEntry, ...]
    source: str = ""
    _by_asn: dict[int, str] = field(default_factory=dict, repr=False)
    _by_name: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for isp in self.isps:
            for asn in isp.asns:
                self._by_asn.setdefault(asn, isp.name)
            for name in isp.as_names:
                self._by_name.setdefault(name, isp.name)

    def get(self, name: str) -> IspEntry | None:
        return next((i for i in self.isps if i.name == name), None)

    def as_number_table(self) -> dict[str, int]:
        """AS name -> first AS number of the ISP that lists the name."""
        return {n: isp.asns[0] for isp in self.isps if isp.asns for n in isp.as_names}

    def match(
        self, asn: int | None, as_name: str | None, ip: int | str | None = None
    ) -> str | None:
        """The ISP name for one address (see :meth:`match_columns`)."""
        addr = None if ip is None else ipaddress.ip_address(ip)
        # Extra prefixes are IPv4; an IPv6 address matches by AS only.
        ips = np.array([int(addr)], np.uint32) if addr and addr.version == 4 else None
        out = self.match_columns(
            np.array([-1 if asn is None else asn], np.int64), np.array([as_name], object), ips
        )
        return out[0]

    def match_columns(
        self, asn: np.ndarray, as_name: np.ndarray, ip: np.ndarray | None = None
    ) -> np.ndarray:
        """ISP names (object array, None where unknown) for whole columns at once."""
        asn = np.asarray(asn, dtype=np.int64)
        out = _map_values(asn, self._by_asn)
        by_name = _map_values(np.asarray(as_name, dtype=object), self._by_name)
        out = np.where(out == None, by_name, out)  # noqa: E711
        if ip is not None:
            ip = np.asarray(ip).astype(np.uint32, copy=False)
            for isp in self.isps:
                for prefix in isp.prefixes:
                    net = ipaddress.ip_network(prefix, strict=False)
                    if net.version != 4:
                        continue
                    mask = np.uint32((0xFFFFFFFF << (32 - net.prefixlen)) & 0xFFFFFFFF)
                    out[(ip & mask) == np.uint32(int(net.network_address))] = isp.name
        return out


def _map_values(values: np.ndarray, table: dict[Any, str]) -> np.ndarray:
    """table[value] for every element (None where absent), with one hash lookup pass in Arrow."""
    keys = list(table)
    if not keys or len(values) == 0:
        return np.full(len(values), None, dtype=object)
    key_set = pa.array(keys)
    idx = pc.index_in(pa.array(values, type=key_set.type, from_pandas=True), value_set=key_set)
    owners = np.array([table[k] for k in keys] + [None], dtype=object)
    return owners[idx.fill_null(len(keys)).to_numpy()]


def _tuple(raw: dict[str, Any], key: str, kind: type) -> tuple[Any, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise ConfigError(
            f"ISP {raw.get('name', '?')!r}: {key!r} must be a list of {kind.__name__}"
        )
    return tuple(value)


def _entry(raw: dict[str, Any]) -> IspEntry:
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError("every [[isp]] needs a non-empty 'name'")
    return IspEntry(
        name=raw["name"],
        display_name=str(raw.get("display_name", raw["name"])),
        display_name_ja=str(raw.get("display_name_ja", "")),
        country=str(raw.get("country", "JP")).upper(),
        asns=_tuple(raw, "asns", int),
        as_names=_tuple(raw, "as_names", str),
        prefixes=_tuple(raw, "prefixes", str),
        contacts=_tuple(raw, "contacts", str),
        language=str(raw.get("language", "ja")),
        delivery=str(raw.get("delivery", "email")),
        formats=_tuple(raw, "formats", str) or ("csv",),
        interval_hours=int(raw.get("interval_hours", 24)),
        pgp_key=str(raw.get("pgp_key", "")),
    )


def parse_registry(text: str, source: str = "<text>") -> Registry:
    """Parse registry TOML text (structure errors raise :class:`ConfigError`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    items = data.get("isp", [])
    if not isinstance(items, list):
        raise ConfigError(f"{source}: expected [[isp]] tables")
    try:
        return Registry(tuple(_entry(i) for i in items), source=source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


@cache
def shipped_registry() -> Registry:
    """The default registry shipped with the package."""
    res = resources.files("iotnotice.enrich").joinpath("data/isp_registry.toml")
    return parse_registry(res.read_text("utf-8"), source="shipped isp_registry.toml")


def read_registry(path: Path) -> Registry:
    """Read a registry TOML file."""
    if not path.is_file():
        raise ConfigError(f"{path}: ISP registry file not found")
    return parse_registry(path.read_text("utf-8"), source=str(path))


def load_registry(settings: Settings) -> Registry:
    """The configured registry (``settings.isp_registry``) or the shipped default."""
    path = str(settings.isp_registry).strip()
    return read_registry(Path(path).expanduser()) if path else shipped_registry()


def check_registry(registry: Registry, base: Path | None = None) -> list[str]:
    """Problems that would misroute or lose reports; empty when the registry is usable."""
    problems: list[str] = []
    problems += _duplicates("ISP name", [(i.name, i.name) for i in registry.isps])
    problems += _duplicates("ASN", [(a, i.name) for i in registry.isps for a in i.asns])
    problems += _duplicates("AS name", [(n, i.name) for i in registry.isps for n in i.as_names])
    for isp in registry.isps:
        problems += _check_entry(isp, base)
    return problems


def _duplicates(what: str, pairs: Iterable[tuple[Any, str]]) -> list[str]:
    seen: dict[Any, str] = {}
    out = []
    for key, owner in pairs:
        if key in seen:
            out.append(f"duplicate {what} {key!r}: {seen[key]} and {owner}")
        seen.setdefault(key, owner)
    return out


def _check_entry(isp: IspEntry, base: Path | None) -> list[str]:
    out = []
    if not isp.contacts:
        out.append(f"{isp.name}: no contacts")
    out += [
        f"{isp.name}: contact {c!r} is not an e-mail address" for c in isp.contacts if "@" not in c
    ]
    if not isp.asns and not isp.as_names and not isp.prefixes:
        out.append(f"{isp.name}: no asns, as_names or prefixes (matches nothing)")
    for prefix in isp.prefixes:
        try:
            ipaddress.ip_network(prefix, strict=True)
        except ValueError as exc:
            out.append(f"{isp.name}: bad prefix {prefix!r} ({exc})")
    out += [f"{isp.name}: bad ASN {a}" for a in isp.asns if not 0 < a < 2**32]
    if isp.language not in _LANGUAGES:
        out.append(f"{isp.name}: language {isp.language!r} not one of {sorted(_LANGUAGES)}")
    if isp.delivery not in _DELIVERY:
        out.append(f"{isp.name}: delivery {isp.delivery!r} not one of {sorted(_DELIVERY)}")
    out += [f"{isp.name}: unknown format {f!r}" for f in isp.formats if f not in _FORMATS]
    if isp.interval_hours <= 0:
        out.append(f"{isp.name}: interval_hours must be positive")
    if len(isp.country) != 2:
        out.append(f"{isp.name}: country {isp.country!r} is not an ISO 3166 code")
    if isp.pgp_key and not ((base or Path()) / isp.pgp_key).expanduser().is_file():
        out.append(f"{isp.name}: pgp_key file {isp.pgp_key!r} not found")
    return out


def import_registry(engine: Engine, registry: Registry) -> int:
    """Insert or update every ISP of the registry in the ``isps`` table; returns the count."""
    with session_scope(engine) as session:
        existing = {i.name: i for i in session.scalars(select(Isp))}
        for entry in registry.isps:
            row = existing.get(entry.name) or Isp(name=entry.name)
            row.display_name = entry.display_name
            row.display_name_ja = entry.display_name_ja
            row.country = entry.country
            row.asns = list(entry.asns)
            row.as_names = list(entry.as_names)
            row.prefixes = list(entry.prefixes)
            row.contacts = list(entry.contacts)
            row.language = entry.language
            row.delivery = entry.delivery
            row.formats = list(entry.formats)
            row.interval_hours = entry.interval_hours
            row.pgp_key = entry.pgp_key
            session.add(row)
    return len(registry.isps)
