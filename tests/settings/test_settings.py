"""Settings come from defaults, then the TOML file, then the environment, then arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotnotice.errors import ConfigError
from iotnotice.settings import SETTINGS, load_settings


def test_layering(tmp_path: Path) -> None:
    """A file overrides a default; the environment overrides the file; arguments win."""
    cfg = tmp_path / "iotnotice.toml"
    cfg.write_text('flow_interval = 300\ncountry_scope = "JP,KR"\nweb_port = 9000\n')
    s = load_settings(cfg, environ={"IOTNOTICE_WEB_PORT": "9100"}, data_dir=str(tmp_path))
    assert s.flow_interval == 300
    assert s.scope_countries == ("JP", "KR")
    assert s.web_port == 9100
    assert s.data_path == tmp_path
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("iotnotice.db")


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    """A misspelt key in the file is reported with the file name, not ignored."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text("flow_intervall = 5\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*flow_intervall"):
        load_settings(cfg, environ={})


def test_bad_types_and_syntax(tmp_path: Path) -> None:
    """Wrong types and broken TOML give a ConfigError naming the source."""
    with pytest.raises(ConfigError, match="IOTNOTICE_FLOW_INTERVAL"):
        load_settings(environ={"IOTNOTICE_FLOW_INTERVAL": "soon"})
    cfg = tmp_path / "broken.toml"
    cfg.write_text("flow_interval = \n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(cfg, environ={})


def test_every_setting_is_documented() -> None:
    """Each declared setting has a help line and appears in docs/settings.md."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    for s in SETTINGS:
        assert s.help.strip(), s.name
        assert f"`{s.name}`" in doc, f"{s.name} missing from docs/settings.md"
