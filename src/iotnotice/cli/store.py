"""``iotnotice sensor add|list`` and ``iotnotice ingest``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.store.ingest import IngestResult, ingest_files
from iotnotice.store.sensors import add_sensor, get_sensor, list_sensors

__all__ = ["commands", "ingest_cmd", "sensor_group"]

# Files smaller than this finish before a progress bar would be worth drawing.
_BAR_BYTES = 64 * 1024 * 1024


@click.group("sensor")
def sensor_group() -> None:
    """Manage darknet sensors and the prefixes they monitor."""


@sensor_group.command("add")
@click.argument("name")
@click.option("--prefix", "prefixes", multiple=True, required=True, help="Monitored CIDR prefix.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Date (UTC) from which the prefixes are monitored (default: always).",
)
@pass_app
def sensor_add(
    app: AppContext, name: str, prefixes: tuple[str, ...], since: datetime | None
) -> None:
    """Register sensor NAME, or add prefixes to it."""
    info = add_sensor(app.engine, name, list(prefixes), since)
    nets = ", ".join(p.prefix for p in info.prefixes if p.until is None)
    app.console.print(f"sensor [bold]{info.name}[/]: {nets}", highlight=False)


@sensor_group.command("list")
@pass_app
def sensor_list(app: AppContext) -> None:
    """List sensors and their prefixes."""
    table = Table("sensor", "prefix", "since", "until")
    for info in list_sensors(app.engine):
        for p in info.prefixes or ():
            until = f"{p.until:%Y-%m-%d}" if p.until else ""
            table.add_row(info.name, p.prefix, f"{p.since:%Y-%m-%d}", until)
        if not info.prefixes:
            table.add_row(info.name, "(all addresses)", "", "")
    app.console.print(table)


@contextmanager
def _progress(app: AppContext, paths: list[Path]) -> Iterator[Progress | None]:
    big = any(p.is_file() and p.stat().st_size >= _BAR_BYTES for p in paths)
    if not big or not app.err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=app.err,
        transient=True,
    )
    with bar:
        yield bar


def _line(r: IngestResult) -> str:
    if r.status == "failed":
        return f"failed    {r.error}"
    counts = (
        f"{r.packets:,} packets, {r.stored_packets:,} stored, "
        f"{r.outside_packets:,} outside the sensor's prefixes, {r.flow_rows:,} flow rows"
    )
    if r.status == "damaged":
        return f"damaged   {r.path}: {counts}; {r.error}"
    return f"{r.status:<9} {r.path}: {counts}"


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sensor", default=None, help="Sensor the captures come from (default: 'default').")
@pass_app
def ingest_cmd(app: AppContext, files: tuple[Path, ...], sensor: str | None) -> None:
    """Decode capture FILEs (pcap/pcapng, optionally compressed) into the flow store."""
    if sensor:
        get_sensor(app.engine, sensor)
    paths = list(files)
    with _progress(app, paths) as bar:
        tasks: dict[Path, object] = {}

        def report(path: Path, done: int, total: int) -> None:
            if bar is None:
                return
            if path not in tasks:
                tasks[path] = bar.add_task(path.name, total=total)
            bar.update(tasks[path], completed=done)  # type: ignore[arg-type]

        results = ingest_files(app.settings, app.engine, paths, sensor, report)
    bad = False
    for r in results:
        line = _line(r)
        if r.status in ("failed", "damaged"):
            bad = True
            app.fail(line)
        else:
            app.console.print(line, highlight=False, soft_wrap=True)
    if bad:
        sys.exit(1)


commands: list[click.Command] = [sensor_group, ingest_cmd]
