"""``iotnotice honeypot``: import Cowrie logs, list the sessions and their verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table
from sqlalchemy import select

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.db.engine import session_scope
from iotnotice.db.models import HoneypotSession
from iotnotice.honeypot import HoneypotImportSummary, import_cowrie_logs, merge_into_hosts

__all__ = ["commands", "honeypot_group"]


@click.group("honeypot")
def honeypot_group() -> None:
    """Honeypot evidence (Cowrie JSON logs)."""


def _import_table(summary: HoneypotImportSummary) -> Table:
    table = Table(title="Cowrie import")
    for title in ("File", "Lines", "Events", "Sessions", "New", "Updated", "Unchanged", "Damaged"):
        table.add_column(title, justify="left" if title == "File" else "right")
    for f in summary.files:
        table.add_row(
            str(f.path),
            *(f"{n:,}" for n in (f.lines, f.events, f.sessions, f.new, f.updated, f.unchanged)),
            "unreadable" if f.error else f"{f.bad_lines:,}",
        )
    return table


@honeypot_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--merge/--no-merge",
    default=True,
    show_default=True,
    help="Add sources judged infected to the hosts table.",
)
@pass_app
def import_cmd(app: AppContext, files: tuple[Path, ...], merge: bool) -> None:
    """Import Cowrie JSON logs (cowrie.json, rotated or gzipped); idempotent per session."""
    summary = import_cowrie_logs(app.settings, app.engine, files)
    app.console.print(_import_table(summary))
    app.console.print(f"Sources judged infected: {len(summary.infected_sources):,}")
    if merge:
        merged = merge_into_hosts(app.settings, app.engine)
        app.console.print(f"Hosts: {merged.created:,} created, {merged.extended:,} extended")
    for f in summary.files:
        if f.problem:
            app.fail(f.problem)
    if not summary.ok:
        sys.exit(1)


def _creds(row: HoneypotSession) -> str:
    if row.username is not None:
        return f"{row.username}/{row.password}"
    return f"{len(row.logins)} failed" if row.logins else "-"


@honeypot_group.command("sessions")
@click.option("--ip", default=None, help="Only sessions from this source address.")
@click.option("--limit", default=100, show_default=True, help="Most recent sessions shown.")
@pass_app
def sessions_cmd(app: AppContext, ip: str | None, limit: int) -> None:
    """List imported honeypot sessions with their verdicts."""
    stmt = select(HoneypotSession).order_by(HoneypotSession.start.desc()).limit(limit)
    if ip:
        stmt = stmt.where(HoneypotSession.src_ip == ip)
    table = Table(title="Honeypot sessions")
    for title in ("Start", "Source", "Session", "Login", "Cmds", "Token", "DL", "Verdict", "Conf"):
        table.add_column(title)
    with session_scope(app.engine) as db:
        for row in db.scalars(stmt):
            table.add_row(
                row.start.strftime("%Y-%m-%d %H:%M:%S"),
                row.src_ip,
                row.session,
                _creds(row),
                str(len(row.commands)),
                row.variant or "-",
                str(len(row.downloads)),
                row.verdict if row.family is None else f"{row.verdict} ({row.family})",
                f"{row.confidence:.2f}",
            )
    app.console.print(table)


commands: list[click.Command] = [honeypot_group]
