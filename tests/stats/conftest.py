"""Fixtures of the stats tests."""

from __future__ import annotations

from stats_store import store

__all__ = ["store"]
