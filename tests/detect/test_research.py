"""Research-network list: shipped entries, operator extension, bad files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pytest

from iotnotice.detect.research import load_research_networks
from iotnotice.errors import ConfigError
from iotnotice.settings import Settings

CONTRACT_PREFIXES = [
    "162.142.125.0/24",
    "167.94.138.0/24",
    "167.94.145.0/24",
    "167.94.146.0/24",
    "167.248.133.0/24",
    "199.45.154.0/24",
    "199.45.155.0/24",
    "206.168.34.0/24",
    "184.105.139.64/26",
    "184.105.247.192/26",
    "216.218.206.64/26",
    "65.49.20.64/26",
    "74.82.47.0/26",
]


def _u32(*ips: str) -> np.ndarray:
    return np.array([int(ipaddress.IPv4Address(i)) for i in ips], dtype=np.uint32)


def test_shipped_list_covers_published_prefixes(settings: Settings) -> None:
    """Every Censys/Shadowserver prefix is listed with an organisation and a source."""
    nets = load_research_networks(settings)
    listed = {str(p) for n in nets.networks for p in n.prefixes}
    assert set(CONTRACT_PREFIXES) <= listed
    assert all(n.organisation and n.source.startswith("https://") for n in nets.networks)


def test_match_by_prefix_and_asn(settings: Settings) -> None:
    """Addresses match by prefix, or by ASN (Censys), and not just outside a /26."""
    nets = load_research_networks(settings)
    got = nets.match(
        _u32("74.82.47.63", "74.82.47.64", "1.1.1.1", "8.8.8.8"), np.array([-1, -1, 398705, -1])
    )
    names = [nets.networks[i].organisation if i >= 0 else None for i in got]
    assert names == ["The Shadowserver Foundation", None, "Censys", None]


def test_operator_extension(tmp_path: Path, settings: Settings) -> None:
    """An operator file adds entries; a malformed one is a ConfigError naming it."""
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[[network]]\norganisation = "Our lab"\nsource = "internal wiki"\n'
        'prefixes = ["192.0.2.0/28"]\n'
    )
    nets = load_research_networks(settings.replace(research_networks=str(extra)))
    idx = nets.match(_u32("192.0.2.5", "192.0.2.16"), np.array([-1, -1]))
    assert nets.networks[idx[0]].organisation == "Our lab" and idx[1] == -1
    extra.write_text('[[network]]\norganisation = "x"\nsource = "y"\nprefixes = ["192.0.2.1/24"]\n')
    with pytest.raises(ConfigError, match=r"mine\.toml"):
        load_research_networks(settings.replace(research_networks=str(extra)))
    with pytest.raises(ConfigError, match="not found"):
        load_research_networks(settings.replace(research_networks=str(tmp_path / "no.toml")))
