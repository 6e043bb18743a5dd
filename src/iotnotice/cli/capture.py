"""``iotnotice simulate``: write a simulated darknet capture and its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from iotnotice.capture.simulate import DEFAULT_DARKNET, SimulationResult, simulate
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.errors import ConfigError

__all__ = ["commands", "simulate_cmd"]


def _start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--start {text!r} is not an ISO 8601 date/time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _summary(result: SimulationResult) -> Table:
    title = f"{result.pcap.name}: {result.packets:,} packets, {result.sources:,} sources"
    table = Table(title=title)
    for name in ("Label", "Sources", "Packets"):
        table.add_column(name, justify="left" if name == "Label" else "right")
    for label in sorted(result.labels):
        table.add_row(label, f"{result.labels[label]:,}", f"{result.label_packets[label]:,}")
    return table


@click.command("simulate")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--truth",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ground-truth CSV to write (one row per source).",
)
@click.option("--packets", type=click.IntRange(min=1), help="Packets to write.")
@click.option("--hours", type=float, help="Length of the simulated period (default 1 hour).")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--darknet",
    multiple=True,
    metavar="CIDR",
    help=f"Darknet prefix (repeatable; default {DEFAULT_DARKNET[0]}).",
)
@click.option("--start", help="Start of the period, ISO 8601 (default 2026-01-05T00:00Z).")
@pass_app
def simulate_cmd(
    app: AppContext,
    out: Path,
    truth: Path,
    packets: int | None,
    hours: float | None,
    seed: int,
    darknet: tuple[str, ...],
    start: str | None,
) -> None:
    """Write a simulated darknet capture (classic pcap) and its ground truth.

    With --packets the period lasts at least an hour; with --hours the packet count follows
    from the rate (1 packet/s per darknet address); with both, both are fixed.
    """
    with app.err.status("simulating darknet traffic"):
        result = simulate(
            out,
            truth,
            packets=packets,
            hours=hours,
            seed=seed,
            darknet=darknet or DEFAULT_DARKNET,
            start=_start(start),
        )
    app.console.print(_summary(result))
    app.console.print(
        f"{result.start:%Y-%m-%d %H:%M} - {result.end:%Y-%m-%d %H:%M} UTC, darknet "
        f"{', '.join(result.darknet)}; {result.outside_packets:,} packets addressed outside it; "
        f"{result.bytes / 1e6:,.1f} MB in {result.seconds:.1f} s "
        f"({result.packets_per_second / 1e6:.2f} M packets/s); truth: {result.truth}",
        highlight=False,
    )


commands: list[click.Command] = [simulate_cmd]
