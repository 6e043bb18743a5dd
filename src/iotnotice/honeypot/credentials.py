"""Mirai's telnet brute-force credential table (62 pairs), shipped in ``data/`` with provenance."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Credential", "iot_default", "mirai_credentials"]


@dataclass(frozen=True)
class Credential:
    """One pair of the table: its index in Mirai's source, user, password and draw weight."""

    index: int
    username: str
    password: str
    weight: int


@cache
def mirai_credentials() -> dict[tuple[str, str], Credential]:
    """The table keyed by (username, password); duplicates in the source keep their first index."""
    text = resources.files("iotnotice.honeypot").joinpath("data/mirai_credentials.csv").read_text()
    table: dict[tuple[str, str], Credential] = {}
    for row in csv.DictReader(io.StringIO(text)):
        cred = Credential(int(row["index"]), row["username"], row["password"], int(row["weight"]))
        table.setdefault((cred.username, cred.password), cred)
    return table


def iot_default(username: str | None, password: str | None) -> Credential | None:
    """The table entry for a pair, or None when it is not one of Mirai's defaults."""
    if username is None or password is None:
        return None
    return mirai_credentials().get((username, password))
