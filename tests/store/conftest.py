"""Fixtures of the store tests: small captures written by the tests themselves."""

from __future__ import annotations

import sys
from pathlib import Path

# The capture builders live next to the reader tests; share them instead of copying.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "capture"))
