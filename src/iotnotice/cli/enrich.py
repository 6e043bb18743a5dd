"""``iotnotice isp-registry import|list|check``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from sqlalchemy import select

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.db import session_scope
from iotnotice.db.models import Isp
from iotnotice.enrich.registry import check_registry, import_registry, load_registry, read_registry

__all__ = ["commands", "isp_registry_group"]


@click.group("isp-registry")
def isp_registry_group() -> None:
    """Manage the ISP registry (who receives reports for which addresses)."""


@isp_registry_group.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def import_cmd(app: AppContext, file: Path | None) -> None:
    """Import FILE (default: the configured or shipped registry) into the database."""
    registry = read_registry(file) if file else load_registry(app.settings)
    problems = check_registry(registry, base=file.parent if file else None)
    for problem in problems:
        app.err.print(f"[yellow]warning:[/] {problem}", highlight=False)
    count = import_registry(app.engine, registry)
    app.console.print(f"imported {count} ISPs from {registry.source}")


@isp_registry_group.command("list")
@pass_app
def list_cmd(app: AppContext) -> None:
    """List the ISPs in the database."""
    table = Table(
        "name",
        "display name",
        "country",
        "ASNs",
        "contacts",
        "language",
        "delivery",
        "formats",
        "interval h",
    )
    with session_scope(app.engine) as session:
        for isp in session.scalars(select(Isp).order_by(Isp.name)):
            table.add_row(
                isp.name,
                isp.display_name,
                isp.country,
                ",".join(map(str, isp.asns)),
                ",".join(isp.contacts),
                isp.language,
                isp.delivery,
                ",".join(isp.formats),
                str(isp.interval_hours),
            )
    app.console.print(table)


@isp_registry_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def check_cmd(app: AppContext, file: Path | None) -> None:
    """Check FILE (default: the configured registry); exit 1 when it has problems."""
    registry = read_registry(file) if file else load_registry(app.settings)
    problems = check_registry(registry, base=file.parent if file else None)
    for problem in problems:
        app.console.print(problem, highlight=False)
    if problems:
        raise click.exceptions.Exit(1)
    app.console.print(f"{registry.source}: {len(registry.isps)} ISPs, no problems")


commands: list[click.Command] = [isp_registry_group]
