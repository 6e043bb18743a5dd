"""``iotnotice stats``: NICTER-style figures per year, month or day."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from sqlalchemy import Engine

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.errors import IotnoticeError
from iotnotice.settings import Settings
from iotnotice.stats import rebuild_aggregates, statistics, statistics_per_sensor

__all__ = ["commands", "remediation_cmd", "report_cmd", "statistics_table", "stats_cmd"]

_COLUMNS = (
    ("period", "Period"),
    ("packets", "Packets"),
    ("monitored_addresses", "Monitored addresses"),
    ("monitored_addresses_avg", "Time-weighted addresses"),
    ("packets_per_address", "Packets per address"),
    ("sources", "Unique sources"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("monitored_addresses_avg", "packets_per_address"):
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _columns(rows: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return (("sensor", "Sensor"), *_COLUMNS) if rows and "sensor" in rows[0] else _COLUMNS


def _table(rows: list[dict[str, Any]], by: str) -> Table:
    table = Table(title=f"Darknet statistics per {by}")
    columns = _columns(rows)
    for key, title in columns:
        table.add_column(by.capitalize() if key == "period" else title, justify="right")
    for row in rows:
        table.add_row(*(_cell(key, row[key]) for key, _ in columns))
    return table


def statistics_table(
    settings: Settings, engine: Engine, by: str = "year", sensor: str | None = None
) -> Table:
    """The NICTER-style statistics as a rich table (used by ``stats`` and ``demo``)."""
    return _table(statistics(settings, engine, by, sensor=sensor), by)


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = [k for k, _ in _columns(rows)]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@click.command("stats")
@click.option(
    "--by", type=click.Choice(["year", "month", "day"]), default="year", show_default=True
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--sensor", default=None, help="Only this sensor's traffic and address space.")
@click.option("--per-sensor", is_flag=True, help="One row per sensor and period.")
@click.option(
    "--rebuild-aggregates", is_flag=True, help="Recompute the daily aggregates from the flow store."
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw packets per period to this .svg or .png file.",
)
@pass_app
def stats_cmd(
    app: AppContext,
    by: str,
    fmt: str,
    sensor: str | None,
    per_sensor: bool,
    rebuild_aggregates: bool,
    plot: Path | None,
) -> None:
    """Packets, monitored addresses and packets per address per period (NICTER style)."""
    if rebuild_aggregates:
        _rebuild(app)
    if per_sensor:
        rows = statistics_per_sensor(app.settings, app.engine, by)
    else:
        rows = statistics(app.settings, app.engine, by, sensor=sensor)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        click.echo(_csv(rows), nl=False)
    else:
        app.console.print(_table(rows, by))
    if plot is not None:
        _plot(app, rows, by, plot)


def _plot(app: AppContext, rows: list[dict[str, Any]], by: str, path: Path) -> None:
    from iotnotice.stats.plots import line_figure, save_figure

    if path.suffix.lower() not in (".svg", ".png"):
        raise IotnoticeError(f"{path}: plots are written as .svg or .png")
    points = [
        (" ".join((r["period"], r.get("sensor", ""))).strip(), float(r["packets"])) for r in rows
    ]
    save_figure(line_figure(f"Packets per {by}", points, "packets"), path)
    app.err.print(f"plot written to {path}")


def _rebuild(app: AppContext) -> None:
    written = rebuild_aggregates(app.settings)
    app.err.print(f"rebuilt daily aggregates ({written} files)")


@click.command("report")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def report_cmd(app: AppContext, out: Path) -> None:
    """Write one self-contained HTML report (tables and plots) to OUT."""
    from iotnotice.stats.report import write_report

    write_report(app.settings, app.engine, out)
    app.console.print(f"report written to {out}")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


@click.command("remediation")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@pass_app
def remediation_cmd(app: AppContext, fmt: str) -> None:
    """Clean-up after notification per ISP: shares no longer observed after 7/14/30 days."""
    from iotnotice.stats.remediation import remediation

    rows = remediation(app.engine)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Remediation after notification (caveat: DHCP churn also hides hosts)")
    for title in ("ISP", "Notified", "7 d", "14 d", "30 d", "Median days", "Reinfected", "Open"):
        table.add_column(title, justify="right")
    for r in rows:
        median = r["median_days_to_last_seen"]
        table.add_row(
            str(r["isp"]),
            f"{r['notified']:,}",
            _share(r["cleaned_7d"]),
            _share(r["cleaned_14d"]),
            _share(r["cleaned_30d"]),
            "-" if median is None else f"{median:.1f}",
            _share(r["reinfection_rate"]),
            f"{r['active']:,}",
        )
    app.console.print(table)


commands: list[click.Command] = [stats_cmd, report_cmd, remediation_cmd]
