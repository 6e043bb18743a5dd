"""Mirai's telnet brute-force credential table (62 pairs), shipped in ``data/`` with provenance."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Credential", "check", "iot_default", "mirai_credentials"]


@dataclass(frozen=True)
class Credential:
    """One pair of the table: its index in Mirai's source, user, password and draw weight."""

    index: int
    username: str
    password: str
    weight: int


# Mirai's table: 62 rows (guest/12345 is listed twice), total weight 152.
_ROWS, _WEIGHT = 62, 152


def _rows() -> list[Credential]:
    text = resources.files("iotnotice.honeypot").joinpath("data/mirai_credentials.csv").read_text()
    return [
        Credential(int(row["index"]), row["username"], row["password"], int(row["weight"]))
        for row in csv.DictReader(io.StringIO(text))
    ]


@cache
def mirai_credentials() -> dict[tuple[str, str], Credential]:
    """The table keyed by (username, password); duplicates in the source keep their first index."""
    table: dict[tuple[str, str], Credential] = {}
    for cred in _rows():
        table.setdefault((cred.username, cred.password), cred)
    return table


def iot_default(username: str | None, password: str | None) -> Credential | None:
    """The table entry for a pair, or None when it is not one of Mirai's defaults."""
    if username is None or password is None:
        return None
    return mirai_credentials().get((username, password))


def check(_settings: object = None) -> list[str]:
    """Problems with the shipped credential table (for ``iotnotice check``); empty when sound."""
    try:
        rows = _rows()
    except (OSError, KeyError, ValueError) as exc:
        return [f"honeypot credential table unreadable: {exc}"]
    weight = sum(c.weight for c in rows)
    if (len(rows), weight) != (_ROWS, _WEIGHT):
        return [f"honeypot credential table has {len(rows)} rows of weight {weight}, not 62/152"]
    return []
