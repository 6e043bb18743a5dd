"""Which part's module provides each command, and registering them on the group.

Start-up time matters (``iotnotice ingest`` of a small file should not pay for importing the
web app, the ISP toolkit and the detector), so the group imports a part's module only when one
of its commands is run; ``--help`` and :func:`register` import them all.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["PART_COMMANDS", "load_all", "load_part_of", "register"]

# Part module (``iotnotice.cli.<part>``) -> names of the commands it exposes in ``commands``.
PART_COMMANDS: dict[str, tuple[str, ...]] = {
    "capture": ("simulate",),
    "store": ("sensor", "ingest"),
    "detect": ("detect", "hosts", "explain", "evaluate"),
    "honeypot": ("honeypot",),
    "enrich": ("isp-registry",),
    "cases": ("cases",),
    "notify": ("notify", "deliver", "api-token"),
    "isp": ("isp",),
    "stats": ("stats", "report", "remediation"),
    "web": ("serve", "operator-add"),
    "demo": ("demo", "check"),
}


def _load(group: click.Group, part: str) -> None:
    module = importlib.import_module(f"iotnotice.cli.{part}")
    for command in module.commands:
        if command.name not in group.commands:
            group.add_command(command)


def load_part_of(group: click.Group, name: str) -> None:
    """Register the commands of the part that provides command ``name`` (all, if unknown)."""
    for part, names in PART_COMMANDS.items():
        if name in names:
            _load(group, part)
            return
    load_all(group)


def load_all(group: click.Group) -> None:
    """Register every part's commands."""
    for part in PART_COMMANDS:
        _load(group, part)


def register(group: click.Group) -> None:
    """Register every part's commands on ``group`` now."""
    load_all(group)
