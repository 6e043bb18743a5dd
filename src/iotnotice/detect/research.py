"""Research / benign scanning networks (shipped list plus ``settings.research_networks``)."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from iotnotice.errors import ConfigError
from iotnotice.settings import Settings

__all__ = ["ResearchNetwork", "ResearchNetworks", "load_research_networks"]


@dataclass(frozen=True)
class ResearchNetwork:
    """One organisation's scanning prefixes and ASNs, with the source that published them."""

    organisation: str
    source: str
    prefixes: tuple[ipaddress.IPv4Network, ...]
    asns: tuple[int, ...]


@dataclass(frozen=True)
class ResearchNetworks:
    networks: tuple[ResearchNetwork, ...]

    def match(self, ips: np.ndarray, asns: np.ndarray) -> np.ndarray:
        """Index into ``networks`` of the matching entry per address, -1 for none."""
        ips = np.asarray(ips).astype(np.uint32, copy=False)
        asns = np.asarray(asns, dtype=np.int64)
        out = np.full(len(ips), -1, dtype=np.int64)
        for i, net in enumerate(self.networks):
            hit = np.isin(asns, np.array(net.asns, dtype=np.int64)) if net.asns else False
            for prefix in net.prefixes:
                mask = np.uint32((0xFFFFFFFF << (32 - prefix.prefixlen)) & 0xFFFFFFFF)
                hit = hit | ((ips & mask) == np.uint32(int(prefix.network_address)))
            out[(out < 0) & hit] = i
        return out


def _parse(text: str, origin: str) -> list[ResearchNetwork]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML ({exc})") from None
    out = []
    for raw in data.get("network", []):
        try:
            prefixes = tuple(ipaddress.IPv4Network(p) for p in raw.get("prefixes", []))
            asns = tuple(int(a) for a in raw.get("asns", []))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{origin}: {raw.get('organisation', '?')}: {exc}") from None
        if not raw.get("organisation") or not raw.get("source"):
            raise ConfigError(f"{origin}: every [[network]] needs 'organisation' and 'source'")
        out.append(ResearchNetwork(str(raw["organisation"]), str(raw["source"]), prefixes, asns))
    return out


def load_research_networks(settings: Settings) -> ResearchNetworks:
    """The shipped list merged with the operator's file, if configured."""
    res = resources.files("iotnotice.detect").joinpath("data/research_networks.toml")
    networks = _parse(res.read_text("utf-8"), "shipped research_networks.toml")
    extra = str(settings.research_networks).strip()
    if extra:
        path = Path(extra).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: research_networks file not found")
        networks += _parse(path.read_text("utf-8"), str(path))
    return ResearchNetworks(tuple(networks))
