"""The web part's configuration check."""

from __future__ import annotations

from pathlib import Path

from iotnotice.settings import load_settings
from iotnotice.web.check import check


def test_check_accepts_defaults_and_names_bad_settings(tmp_path: Path) -> None:
    """Defaults pass; a bad header, empty phone and short key are each reported."""
    good = load_settings(environ={}, data_dir=str(tmp_path))
    assert check(good) == []
    bad = good.replace(trusted_proxy_header="X Forwarded", support_phone=" ", secret_key="abc")
    problems = check(bad)
    assert len(problems) == 3
    assert any("trusted_proxy_header" in p for p in problems)
    assert any("support_phone" in p for p in problems)
