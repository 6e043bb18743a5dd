"""Fixtures of the ISP toolkit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder for the test's input files."""
    folder = tmp_path / "in"
    folder.mkdir()
    return folder
