"""Registers every part's commands on the group."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(group: click.Group) -> None:
    # Each part's module exposes ``commands``: a list of click commands/groups.
    import importlib

    for part in (
        "capture",
        "store",
        "detect",
        "honeypot",
        "enrich",
        "cases",
        "notify",
        "isp",
        "stats",
        "web",
        "demo",
    ):
        try:
            module = importlib.import_module(f"iotnotice.cli.{part}")
        except ModuleNotFoundError as exc:
            if exc.name != f"iotnotice.cli.{part}":
                raise
            continue
        for command in module.commands:
            group.add_command(command)
