"""ISP registry: shipped default, matching, checks, import into the database, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from sqlalchemy import Engine, select

from iotnotice.cli import _register, cli
from iotnotice.db import session_scope
from iotnotice.db.models import Isp
from iotnotice.enrich.ipdata import load_ip_data
from iotnotice.enrich.registry import (
    check_registry,
    import_registry,
    load_registry,
    parse_registry,
    shipped_registry,
)
from iotnotice.settings import Settings

BAD = """
[[isp]]
name = "a"
asns = [64500]
prefixes = ["198.51.100.1/24"]
contacts = []

[[isp]]
name = "b"
asns = [64500]
contacts = ["not-an-address"]
language = "fr"
formats = ["pdf"]
"""


def test_shipped_registry_is_clean_and_names_exist(settings: Settings) -> None:
    """The shipped registry has no problems and its AS names occur in the bundled data."""
    registry = shipped_registry()
    assert check_registry(registry) == []
    names = {i.name for i in registry.isps}
    assert {
        "ntt-com",
        "kddi",
        "softbank",
        "docomo",
        "iij",
        "biglobe",
        "so-net",
        "asahi-net",
    } <= names
    known = set(load_ip_data(settings).as_names.tolist())
    missing = [n for i in registry.isps for n in i.as_names if n not in known]
    assert missing == []


def test_match_columns_by_asn_name_and_prefix() -> None:
    """Match by ASN, then AS name; an extra prefix overrides both; unknown stays None."""
    registry = parse_registry("""
[[isp]]
name = "x"
asns = [64500]
as_names = ["X Net"]
contacts = ["abuse@x.example.jp"]
[[isp]]
name = "y"
asns = [64501]
prefixes = ["198.51.100.0/25"]
contacts = ["abuse@y.example.jp"]
""")
    asn = np.array([64500, -1, 64501, 65000, 64500], dtype=np.int64)
    names = np.array([None, "X Net", None, "Other", None], dtype=object)
    ips = np.array([1, 2, 3, 4, 0xC6336405], dtype=np.uint32)  # last is 198.51.100.5
    assert registry.match_columns(asn, names, ips).tolist() == ["x", "x", "y", None, "y"]
    assert registry.match(None, "X Net") == "x"
    assert registry.match(65000, "nobody", "198.51.100.200") is None
    assert registry.match(64501, None, "2001:db8::1") == "y"


def test_check_lists_problems() -> None:
    """Duplicate ASNs, bad prefixes, missing contacts and bad enumerations are all reported."""
    problems = "\n".join(check_registry(parse_registry(BAD)))
    assert "duplicate ASN 64500: a and b" in problems
    assert "a: bad prefix '198.51.100.1/24'" in problems
    assert "a: no contacts" in problems
    assert "b: contact 'not-an-address'" in problems
    assert "b: language 'fr'" in problems and "b: unknown format 'pdf'" in problems


def test_import_is_idempotent_and_updates(engine: Engine, settings: Settings) -> None:
    """Importing twice keeps one row per ISP; a changed file updates rows in place."""
    assert import_registry(engine, load_registry(settings)) == len(shipped_registry().isps)
    import_registry(engine, load_registry(settings))
    changed = parse_registry("""
[[isp]]
name = "kddi"
display_name = "KDDI changed"
asns = [2516]
as_names = ["KDDI CORPORATION"]
contacts = ["new@kddi.example.jp"]
language = "en"
""")
    import_registry(engine, changed)
    with session_scope(engine) as session:
        rows = session.scalars(select(Isp)).all()
        kddi = next(r for r in rows if r.name == "kddi")
        assert len(rows) == len(shipped_registry().isps)
        assert (kddi.display_name, kddi.contacts, kddi.language) == (
            "KDDI changed",
            ["new@kddi.example.jp"],
            "en",
        )
        assert kddi.as_names == ["KDDI CORPORATION"]


def test_cli_import_list_check(tmp_path: Path) -> None:
    """`isp-registry import|list|check` work and a broken file fails check with exit 1."""
    _register()
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    result = runner.invoke(cli, [*data, "isp-registry", "import"])
    assert result.exit_code == 0, result.output
    assert "imported 11 ISPs" in result.output
    listed = runner.invoke(cli, [*data, "isp-registry", "list"], env={"COLUMNS": "250"})
    assert "softbank" in listed.output and "17676" in listed.output
    assert runner.invoke(cli, [*data, "isp-registry", "check"]).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    result = runner.invoke(cli, [*data, "isp-registry", "check", str(bad)])
    assert result.exit_code == 1 and "duplicate ASN" in result.output
    missing = runner.invoke(cli, [*data, "isp-registry", "import", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "not found" in missing.output
