"""The web side: public support site (ja/en) and operator console, server-rendered."""

from __future__ import annotations

from iotnotice.web.app import create_app

__all__ = ["create_app"]
