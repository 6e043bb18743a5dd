"""`iotnotice demo` (the whole loop, then the web UI) and `iotnotice check`."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from iotnotice.check import run_checks
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.overview import Overview, overview

__all__ = ["commands"]


def print_overview(app: AppContext, ov: Overview) -> None:
    """Rich tables: infected hosts per ISP, top ports, totals."""
    totals = Table(title="Darknet traffic")
    totals.add_column("packets stored", justify="right")
    totals.add_column("sources", justify="right")
    for cls in ("infected", "scanner", "research", "backscatter", "noise"):
        totals.add_column(cls, justify="right")
    totals.add_row(
        f"{ov.packets:,}",
        f"{ov.sources:,}",
        *(
            f"{ov.hosts_by_class.get(c, 0):,}"
            for c in ("infected", "scanner", "research", "backscatter", "noise")
        ),
    )
    app.console.print(totals)
    isp = Table(title="Infected hosts per ISP")
    isp.add_column("ISP")
    isp.add_column("infected hosts", justify="right")
    for name, n in ov.infected_by_isp:
        isp.add_row(name, f"{n:,}")
    ports = Table(title="Top destination ports")
    ports.add_column("port")
    ports.add_column("packets", justify="right")
    for port, n in ov.top_ports:
        ports.add_row(port, f"{n:,}")
    app.console.print(isp)
    app.console.print(ports)


def print_statistics(app: AppContext, by: str = "year") -> None:
    """The NICTER-style statistics table."""
    from iotnotice.cli.stats import statistics_table

    app.console.print(statistics_table(app.settings, app.engine, by))


@click.command("demo")
@click.option("--packets", default=1_000_000, show_default=True, help="Packets to simulate.")
@click.option("--seed", default=2019, show_default=True, help="Simulator seed.")
@click.option("--serve/--no-serve", default=True, help="Serve the web UI afterwards.")
@click.option("--host", default=None, help="Address for the web UI (default: settings).")
@click.option("--port", default=None, type=int, help="Port for the web UI (default: settings).")
@pass_app
def demo_cmd(
    app: AppContext, packets: int, seed: int, serve: bool, host: str | None, port: int | None
) -> None:
    """Run the whole loop on a simulated capture, print a summary, serve the web UI."""
    from iotnotice.demo import run_demo

    app.console.rule("iotnotice demo")
    app.console.print(f"data directory: {app.settings.data_path.resolve()}")
    result = run_demo(
        app.settings,
        app.engine,
        packets=packets,
        seed=seed,
        step=lambda m: app.console.print(f"• {m}"),
    )
    for r in result.ingest:
        app.console.print(f"  {r.path}: {r.status}, {r.stored_packets:,} packets stored")
    app.console.print(
        f"  cases: {result.cases.opened} opened, {result.cases.extended} extended; "
        f"reports: {len(result.notify.written)} files in {app.settings.outbox_path}"
    )
    print_overview(app, overview(app.settings, app.engine))
    print_statistics(app)
    if serve:
        from iotnotice.web.serve import serve as run_server

        h = host or app.settings.web_host
        p = port or app.settings.web_port
        app.console.print(f"web UI on http://{h}:{p}/ (Ctrl-C to stop)")
        app.console.print(
            f"operator console: http://{h}:{p}/operator/cases "
            f"(sign-in details in {result.operator_file})"
        )
        run_server(app.settings, h, p)


@click.command("check")
@pass_app
def check_cmd(app: AppContext) -> None:
    """Validate configuration, database and data files; print the problems."""
    problems = run_checks(app.settings)
    for name, message in problems:
        app.console.print(f"[red]✗[/] {name}: {message}", highlight=False)
    if problems:
        sys.exit(1)
    app.console.print("[green]✓[/] configuration, database and data files are usable")


commands = [demo_cmd, check_cmd]
