"""Fixtures of the web tests."""

from __future__ import annotations

from web_site import site

__all__ = ["site"]
