"""The generated reference pages match the code (regenerate with tools/gen_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _gen() -> object:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_and_cli_reference_are_current() -> None:
    """docs/settings.md and docs/cli.md are what tools/gen_docs.py writes today."""
    gen = _gen()
    assert (ROOT / "docs/settings.md").read_text() == gen.settings_md()  # type: ignore[attr-defined]
    assert (ROOT / "docs/cli.md").read_text() == gen.cli_md()  # type: ignore[attr-defined]
