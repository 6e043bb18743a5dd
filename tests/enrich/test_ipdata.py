"""IP data: the bundled geoip2fast arrays agree with geoip2fast itself; MMDB files load too."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pytest
from geoip2fast import GeoIP2Fast
from mmdb_build import write_mmdb

from iotnotice.enrich.ipdata import IpData, load_ip_data
from iotnotice.errors import ConfigError
from iotnotice.settings import Settings


@pytest.fixture(scope="module")
def bundled() -> IpData:
    from iotnotice.settings import load_settings

    return load_ip_data(load_settings(environ={}))


def test_bundled_matches_geoip2fast(bundled: IpData) -> None:
    """Country, AS name and routed prefix equal geoip2fast's own lookup for 3,000 addresses."""
    rng = np.random.default_rng(7)
    ips = rng.integers(0, 2**32, 3000, dtype=np.uint64).astype(np.uint32)
    ips[:4] = [
        int(ipaddress.IPv4Address(a))
        for a in ("126.1.1.1", "153.156.1.1", "10.0.0.1", "162.142.125.10")
    ]
    got = bundled.lookup(ips)
    prefixes = got.prefix
    ref = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn.dat.gz")
    for i, value in enumerate(ips):
        r = ref.lookup(str(ipaddress.IPv4Address(int(value))))
        country = None if (r.is_private or r.country_code == "--") else r.country_code
        assert (got.country[i], got.as_name[i], prefixes[i]) == (
            country,
            r.asn_name or None,
            r.asn_cidr or None,
        ), r.to_dict()
        assert bool(got.reserved[i]) == bool(r.is_private)


def test_bundled_fills_asn_from_names(bundled: IpData) -> None:
    """AS numbers come from the registry/shipped table by name; unknown names get -1."""
    got = bundled.lookup_text(
        ["126.1.1.1", "153.156.1.1", "162.142.125.10", "1.1.1.1", "203.0.113.7", "41.0.0.1"]
    )
    assert got.asn[:4].tolist() == [17676, 4713, 398324, 13335]
    assert got.as_name[0] == "SoftBank Corp." and got.country[0] == "JP"
    assert got.asn[4] == -1 and got.as_name[4] is None and got.prefix[4] is None
    known = set(bundled.as_numbers[bundled.as_numbers >= 0].tolist())
    assert got.asn[5] == -1 or got.asn[5] in known


def test_private_space_is_reserved(bundled: IpData) -> None:
    """RFC 1918 addresses are flagged reserved and have no country."""
    got = bundled.lookup_text(["10.1.2.3", "192.168.0.1", "8.8.8.8"])
    assert got.reserved.tolist() == [True, True, False]
    assert got.country[0] is None and got.country[2] == "US"


def test_mmdb_files(tmp_path: Path, settings: Settings) -> None:
    """An ASN and a Country MMDB (written by the test) give numbers, names, prefixes, countries."""
    asn_db = tmp_path / "asn.mmdb"
    country_db = tmp_path / "country.mmdb"
    write_mmdb(
        asn_db,
        {
            "126.0.0.0/12": {
                "autonomous_system_number": ("u32", 17676),
                "autonomous_system_organization": "SoftBank Corp.",
            },
            "198.51.100.0/24": {
                "autonomous_system_number": ("u32", 64500),
                "autonomous_system_organization": "Example Net",
            },
        },
        "GeoLite2-ASN",
    )
    write_mmdb(
        country_db,
        {
            "126.0.0.0/8": {"country": {"iso_code": "JP", "names": {"en": "Japan"}}},
            "198.51.100.0/25": {"registered_country": {"iso_code": "NL"}},
        },
        "GeoLite2-Country",
    )
    data = load_ip_data(settings.replace(ip_data=f"{asn_db},{country_db}"))
    got = data.lookup_text(
        ["126.15.255.255", "126.16.0.1", "198.51.100.9", "198.51.100.200", "8.8.8.8"]
    )
    assert got.asn.tolist() == [17676, -1, 64500, 64500, -1]
    assert got.as_name.tolist() == ["SoftBank Corp.", None, "Example Net", "Example Net", None]
    assert got.country.tolist() == ["JP", "JP", "NL", None, None]
    assert got.prefix.tolist() == ["126.0.0.0/12", None, "198.51.100.0/24", "198.51.100.0/24", None]


def test_bad_ip_data_setting(tmp_path: Path, settings: Settings) -> None:
    """A missing or non-MMDB file is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="not found"):
        load_ip_data(settings.replace(ip_data=str(tmp_path / "nope.mmdb")))
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match=r"junk\.mmdb"):
        load_ip_data(settings.replace(ip_data=str(junk)))
    with pytest.raises(ConfigError, match="expected"):
        load_ip_data(settings.replace(ip_data=str(tmp_path / "x.csv")))


def test_ipv6_matches_geoip2fast(settings: Settings) -> None:
    """IPv6 lookups agree with geoip2fast's IPv6 data file; IPv4 still works from that file."""
    data = load_ip_data(settings, ipv6=True)
    addrs = [
        "2001:4860:4860::8888",
        "2400:4050:1:2::3",
        "240b:10::1",
        "2001:db8::1",
        "fe80::1",
        "2404:6800:4004:80a::200e",
        "2a00:1450:4001:82a::200e",
    ]
    got = data.lookup_text(addrs)
    ref = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
    for i, addr in enumerate(addrs):
        r = ref.lookup(addr)
        country = None if (r.is_private or r.country_code == "--") else r.country_code
        assert (got.country[i], got.as_name[i], got.prefix[i]) == (
            country,
            r.asn_name or None,
            r.asn_cidr or None,
        ), r.to_dict()
    assert got.asn[2] == 2516
    assert data.lookup_text(["126.1.1.1"]).as_name[0] == "SoftBank Corp."
    with pytest.raises(ConfigError, match="IPv6 tables not loaded"):
        load_ip_data(settings).lookup6([ipaddress.IPv6Address("::1").packed])


def test_bundled_countries_are_iso_codes_only() -> None:
    """The bundled data labels some ranges with regions ("ASIA"): they are no country, and the
    hosts' country column (VARCHAR(2)) refused them on PostgreSQL."""
    from iotnotice.enrich.ipdata import load_ip_data
    from iotnotice.settings import load_settings

    labels = load_ip_data(load_settings(environ={})).country_labels
    assert "JP" in set(labels) and "ASIA" not in set(labels)
    assert all(c is None or (len(c) == 2 and c.isalpha()) for c in labels)
