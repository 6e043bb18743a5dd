"""``iotnotice sensor add|list`` and ``iotnotice ingest``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
from iotnotice.errors import InputError
from iotnotice.store.hashing import prefetch

if TYPE_CHECKING:
    from iotnotice.store.ingest import IngestResult

# The decoder, the database layer and pyarrow are imported inside the commands: `ingest` first
# starts hashing its files in a thread, so the hash and those imports run side by side.

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
    from iotnotice.store.sensors import add_sensor

    info = add_sensor(app.engine, name, list(prefixes), since)
    nets = ", ".join(p.prefix for p in info.prefixes if p.until is None)
    app.console.print(f"sensor [bold]{info.name}[/]: {nets}", highlight=False)


@sensor_group.command("list")
@pass_app
def sensor_list(app: AppContext) -> None:
    """List sensors and their prefixes."""
    from iotnotice.store.sensors import list_sensors

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


def _after_ingest(app: AppContext, r: IngestResult) -> None:
    """One watched file's line; after a stored file, what the next detection run reads (the
    new flow files' partials, see detect.partials) is built while the watch waits for the
    next capture (a damaged flow file is named and the watch goes on)."""
    if _print(app, r) or r.status != "ingested" or not r.flow_rows:
        return
    from iotnotice.detect.features import prepare_partials

    try:
        prepare_partials(app.settings)
    except InputError as exc:
        app.fail(f"detection partials: {exc}")


def _print(app: AppContext, r: IngestResult) -> bool:
    """Print one result line; True when the file failed or was damaged."""
    if r.status in ("failed", "damaged"):
        app.fail(_line(r))
        return True
    app.console.print(_line(r), highlight=False, soft_wrap=True)
    return False


def _watch(
    app: AppContext, directory: Path, sensor: str | None, interval: float, settle: float
) -> None:
    from iotnotice.store.watch import watch

    app.console.print(f"watching {directory} (Ctrl-C to stop)", highlight=False)
    try:
        watch(
            app.settings,
            app.engine,
            directory,
            sensor,
            interval=interval,
            settle=settle,
            on_result=lambda r: _after_ingest(app, r),
        )
    except KeyboardInterrupt:
        app.console.print("stopped", highlight=False)


@click.command("ingest")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--sensor", default=None, help="Sensor the captures come from (default: 'default').")
@click.option(
    "--watch",
    "watch_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=(
        "Follow a directory that tcpdump -G / dumpcap -b rotate into; ingest each completed "
        "file and build its detection partials (the next 'detect' only merges)."
    ),
)
@click.option("--interval", default=2.0, show_default=True, help="Seconds between --watch polls.")
@click.option(
    "--settle",
    default=30.0,
    show_default=True,
    help="With --watch: seconds a newest file must stay unchanged to count as complete.",
)
@pass_app
def ingest_cmd(
    app: AppContext,
    files: tuple[Path, ...],
    sensor: str | None,
    watch_dir: Path | None,
    interval: float,
    settle: float,
) -> None:
    """Decode capture FILEs (pcap/pcapng, optionally compressed) into the flow store."""
    prefetch(files)
    from iotnotice.store.ingest import ingest_files
    from iotnotice.store.sensors import get_sensor

    if sensor:
        get_sensor(app.engine, sensor)
    if watch_dir is not None:
        _watch(app, watch_dir, sensor, interval, settle)
        return
    if not files:
        raise click.UsageError("give capture FILEs, or --watch DIR")
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
    bad = [_print(app, r) for r in results]
    if any(bad):
        sys.exit(1)


commands: list[click.Command] = [sensor_group, ingest_cmd]
