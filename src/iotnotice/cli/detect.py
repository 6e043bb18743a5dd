"""``iotnotice detect``, ``hosts``, ``explain`` and ``evaluate``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.detect import run_detection
from iotnotice.detect.evaluate import evaluate
from iotnotice.detect.hosts import get_host, list_hosts, write_hosts

__all__ = ["commands", "detect_cmd", "evaluate_cmd", "explain_cmd", "hosts_cmd"]

_TIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.command("detect")
@click.option("--since", type=_TIME, default=None, help="Window start (UTC).")
@click.option("--until", type=_TIME, default=None, help="Window end, exclusive (UTC).")
@pass_app
def detect_cmd(app: AppContext, since: datetime | None, until: datetime | None) -> None:
    """Classify every source in the flow store and refresh the hosts table."""
    summary = run_detection(app.settings, app.engine, _utc(since), _utc(until))
    table = Table("classification", "sources", title=f"{summary.sources} sources")
    for name, count in sorted(summary.by_class.items()):
        table.add_row(name, str(count))
    app.console.print(table)
    app.console.print(
        f"infected by family: {summary.by_family}; by ISP: {summary.infected_by_isp}; "
        f"monitored addresses: {summary.monitored_addresses}; {summary.seconds:.2f} s",
        highlight=False,
    )
    if summary.honeypot_created or summary.honeypot_extended:
        app.console.print(
            f"honeypot evidence: {summary.honeypot_created} hosts seen only by the honeypot, "
            f"{summary.honeypot_extended} darknet hosts confirmed"
        )


@click.command("hosts")
@click.option(
    "--class",
    "classification",
    default=None,
    type=click.Choice(["infected", "scanner", "research", "backscatter", "noise"]),
)
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "csv", "json"]))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--limit", type=int, default=None, help="At most this many rows (table only).")
@pass_app
def hosts_cmd(
    app: AppContext, classification: str | None, fmt: str, output: Path | None, limit: int | None
) -> None:
    """List classified sources."""
    rows = list_hosts(app.engine, classification)
    if fmt != "table" or output is not None:
        text = write_hosts(rows, fmt if fmt != "table" else "csv")
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            app.err.print(f"wrote {len(rows)} hosts to {output}")
        return
    # A terminal cannot hold every column: the table shows the ones read first; csv/json have all.
    table = Table(caption="all columns and the evidence: --format csv|json")
    for name in _TABLE_COLUMNS:
        table.add_column(name, no_wrap=name in _NO_WRAP, overflow="ellipsis", max_width=28)
    for row in rows[:limit]:
        table.add_row(*(_cell(row[c]) for c in _TABLE_COLUMNS))
    app.console.print(table)


_TABLE_COLUMNS = (
    "ip", "classification", "family", "confidence", "last_seen", "packets", "ports",
    "asn", "as_name", "country", "isp",
)  # fmt: skip
_NO_WRAP = {"ip", "classification", "family", "last_seen", "asn", "country", "isp"}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@click.command("explain")
@click.argument("ip")
@pass_app
def explain_cmd(app: AppContext, ip: str) -> None:
    """Print the whole evidence for one host."""
    host = get_host(app.engine, ip)
    click.echo(json.dumps(host, indent=2, ensure_ascii=False, default=str))


@click.command("evaluate")
@click.option("--truth", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def evaluate_cmd(app: AppContext, truth: Path) -> None:
    """Precision and recall per class against a simulator truth CSV."""
    result = evaluate(app.engine, truth)
    table = Table("class", "truth", "predicted", "correct", "precision", "recall")
    for name, m in result.items():
        table.add_row(
            name,
            str(m["truth"]),
            str(m["predicted"]),
            str(m["correct"]),
            f"{m['precision']:.4f}",
            f"{m['recall']:.4f}",
        )
    app.console.print(table)


commands: list[click.Command] = [detect_cmd, hosts_cmd, explain_cmd, evaluate_cmd]
