"""Derive the simulator's source address ranges from geoip2fast's GeoLite2-derived data file.

Writes ``src/iotnotice/capture/data/source_ranges.csv``: one row per prefix with the country and
AS name that geoip2fast returns for *every* address of it (each prefix is the intersection of one
AS block and one country block, and is checked by looking addresses up), a sampling weight and a
hint saying which simulated populations draw from it. Run once; the output is committed.

    .venv/bin/python tools/make_source_ranges.py
"""

from __future__ import annotations

import bisect
import csv
import gzip
import ipaddress
import pickle
import random
from dataclasses import dataclass
from pathlib import Path

import geoip2fast
from geoip2fast import GeoIP2Fast

OUT = Path(__file__).resolve().parents[1] / "src/iotnotice/capture/data/source_ranges.csv"
DATA_FILE = "geoip2fast-asn.dat.gz"
BLOCKS_PER_AS = 6

# (AS name exactly as in the data, country, weight within its hint). Access weights follow the
# rough geography of Mirai-infected hosts seen by telescopes, with Japan raised so that the
# notification loop has work to do.
ACCESS: list[tuple[str, str, float]] = [
    ("NTT Communications Corporation", "JP", 0.08),
    ("KDDI CORPORATION", "JP", 0.06),
    ("SoftBank Corp.", "JP", 0.06),
    ("NTT DOCOMO, INC.", "JP", 0.03),
    ("Internet Initiative Japan Inc.", "JP", 0.02),
    ("BIGLOBE Inc.", "JP", 0.02),
    ("Sony Network Communications Inc.", "JP", 0.02),
    ("Asahi Net", "JP", 0.01),
    ("OPTAGE Inc.", "JP", 0.015),
    ("JCOM Co., Ltd.", "JP", 0.015),
    ("ARTERIA Networks Corporation", "JP", 0.01),
    ("STNet, Incorporated", "JP", 0.005),
    ("Chinanet", "CN", 0.09),
    ("CHINA UNICOM China169 Backbone", "CN", 0.05),
    ("China Mobile communications corporation", "CN", 0.03),
    ("Viettel Group", "VN", 0.04),
    ("VNPT Corp", "VN", 0.04),
    ("FPT Telecom Company", "VN", 0.02),
    ("TELEFONICA BRASIL S.A", "BR", 0.04),
    ("Claro NXT Telecomunicacoes Ltda", "BR", 0.03),
    ("COMCAST-7922", "US", 0.02),
    ("CHARTER-20115", "US", 0.015),
    ("ATT-INTERNET4", "US", 0.015),
    ("Korea Telecom", "KR", 0.04),
    ("SK Broadband Co Ltd", "KR", 0.02),
    ("LG POWERCOMM", "KR", 0.015),
    ("Bharti Airtel Ltd., Telemedia Services", "IN", 0.03),
    ("Reliance Jio Infocomm Limited", "IN", 0.02),
    ("Rostelecom", "RU", 0.025),
    ("MTS PJSC", "RU", 0.01),
    ("Data Communication Business Group", "TW", 0.03),
    ("TOT Public Company Limited", "TH", 0.01),
    ("PT Telekomunikasi Indonesia", "ID", 0.015),
    ("TE Data", "EG", 0.015),
    ("Iran Telecommunication Company PJS", "IR", 0.01),
    ("UNINET", "MX", 0.01),
    ("Turk Telekom", "TR", 0.01),
]

# Servers: where tool scanners run and where DoS victims (backscatter senders) live.
HOSTING: list[tuple[str, str, float]] = [
    ("DIGITALOCEAN-ASN", "US", 0.15),
    ("OVH SAS", "FR", 0.10),
    ("Hetzner Online GmbH", "DE", 0.10),
    ("AS-CHOOPA", "US", 0.08),
    ("Akamai Connected Cloud", "US", 0.05),
    ("Contabo GmbH", "DE", 0.05),
    ("Hangzhou Alibaba Advertising Co.,Ltd.", "CN", 0.10),
    ("Shenzhen Tencent Computer Systems Company Limited", "CN", 0.10),
    ("AMAZON-02", "US", 0.10),
    ("GOOGLE-CLOUD-PLATFORM", "US", 0.05),
    ("SAKURA Internet Inc.", "JP", 0.07),
    ("KDDI Web Communications Inc.", "JP", 0.03),
]


def _research_prefixes() -> list[str]:
    """The published scanning prefixes of the shipped research-network list."""
    from iotnotice.detect.research import load_research_networks
    from iotnotice.settings import load_settings

    nets = load_research_networks(load_settings(environ={})).networks
    return [str(p) for net in nets for p in net.prefixes]


# Reserved / special-purpose space (RFC 6890): a packet "from" here is spoofed.
BOGON = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


@dataclass(frozen=True)
class Block:
    first: int
    netlen: int

    @property
    def last(self) -> int:
        return self.first + 2 ** (32 - self.netlen) - 1

    @property
    def cidr(self) -> str:
        return f"{ipaddress.IPv4Address(self.first)}/{self.netlen}"


def _load() -> tuple[dict[str, list[Block]], list[tuple[Block, str]]]:
    path = Path(geoip2fast.__file__).parent / DATA_FILE
    with gzip.open(path) as fh:
        _version, _info, _total, database = pickle.load(fh)
    (_, _, names_c, names_a, first_c, first_a, id_c, id_a, len_c, len_a) = database
    by_as: dict[str, list[Block]] = {}
    for firsts, ids, lens in zip(first_a, id_a, len_a, strict=True):
        for first, ident, netlen in zip(firsts, ids, lens, strict=True):
            by_as.setdefault(names_a[ident], []).append(Block(first, netlen))
    countries = [
        (Block(first, netlen), names_c[ident].split(":")[0])
        for firsts, ids, lens in zip(first_c, id_c, len_c, strict=True)
        for first, ident, netlen in zip(firsts, ids, lens, strict=True)
    ]
    return by_as, countries


def _intersections(blocks: list[Block], countries: list[tuple[Block, str]], cc: str) -> list[Block]:
    """Blocks where the AS and the country lookups are both constant (CIDRs nest or are apart)."""
    starts = [b.first for b, _ in countries]
    out = []
    for blk in blocks:
        i = max(bisect.bisect_right(starts, blk.first) - 1, 0)
        while i < len(countries) and countries[i][0].first <= blk.last:
            cblk, code = countries[i]
            if code == cc and cblk.last >= blk.first:
                out.append(blk if blk.netlen >= cblk.netlen else cblk)
            i += 1
    return out


def _checked(geo: GeoIP2Fast, blk: Block, cc: str, as_name: str, rng: random.Random) -> bool:
    probes = [blk.first, blk.last] + [rng.randint(blk.first, blk.last) for _ in range(40)]
    for ip in probes:
        hit = geo.lookup(str(ipaddress.IPv4Address(ip)))
        if hit.country_code != cc or hit.asn_name != as_name:
            return False
    return True


def _pick(
    geo: GeoIP2Fast, blocks: list[Block], cc: str, name: str, rng: random.Random
) -> list[Block]:
    usable = sorted((b for b in blocks if 10 <= b.netlen <= 22), key=lambda b: (b.netlen, b.first))
    chosen: list[Block] = []
    for blk in usable:
        if _checked(geo, blk, cc, name, rng):
            chosen.append(blk)
        if len(chosen) == BLOCKS_PER_AS:
            break
    if not chosen:
        raise SystemExit(f"no usable block for {name!r} in {cc}")
    return chosen


def main() -> None:
    rng = random.Random(2019)
    geo = GeoIP2Fast(geoip2fast_data_file=DATA_FILE)
    by_as, countries = _load()
    rows: list[tuple[str, str, str, float, str]] = []
    for hint, table in (("access", ACCESS), ("hosting", HOSTING)):
        total = sum(w for _, _, w in table)
        for name, cc, weight in table:
            blocks = _pick(geo, _intersections(by_as[name], countries, cc), cc, name, rng)
            for blk in blocks:
                rows.append((blk.cidr, cc, name, weight / total / len(blocks), hint))
    for hint, prefixes in (("research", _research_prefixes()), ("bogon", BOGON)):
        for prefix in prefixes:
            hit = geo.lookup(prefix.split("/")[0])
            cc = "" if hit.is_private or hit.country_code == "--" else hit.country_code
            rows.append((prefix, cc, hit.asn_name, 1.0 / len(prefixes), hint))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        fh.write(
            "# Source address ranges of the iotnotice traffic simulator, made by"
            " tools/make_source_ranges.py\n"
            f"# from geoip2fast's {DATA_FILE} ({geo.source_info}).\n"
            "# This product includes GeoLite2 data created by MaxMind, available from"
            " https://www.maxmind.com\n"
            "# GeoLite2 data is licensed under CC BY-SA 4.0 and the GeoLite2 EULA."
            " See README.md in this folder.\n"
        )
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["prefix", "country", "as_name", "weight", "hint"])
        for prefix, cc, name, weight, hint in rows:
            writer.writerow([prefix, cc, name, f"{weight:.6f}", hint])
    print(f"wrote {len(rows)} prefixes to {OUT}")


if __name__ == "__main__":
    main()
