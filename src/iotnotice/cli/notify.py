"""``iotnotice notify``: write each ISP's due report to the outbox (or show what would be)."""

from __future__ import annotations

import click
from rich.table import Table

from iotnotice.cases import update_cases
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.notify import NotifySummary, run_notify

__all__ = ["commands", "notify_cmd"]


def _table(summary: NotifySummary) -> Table:
    verb = "would report" if summary.dry_run else "reported"
    table = Table(title=f"ISP reports {summary.period} ({verb})")
    table.add_column("ISP")
    for col in ("cases", "new", "changed", "reminders", "suppressed"):
        table.add_column(col, justify="right")
    table.add_column("files", justify="right")
    table.add_column("note")
    for r in summary.isps:
        note = r.error or ("deferred: interval not over" if r.deferred else "")
        table.add_row(r.display_name, str(r.due), str(r.new), str(r.changed), str(r.reminders),
                      str(r.suppressed), str(len(r.files)), note)  # fmt: skip
    return table


@click.command("notify")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; write and change nothing.")
@pass_app
def notify_cmd(app: AppContext, dry_run: bool) -> None:
    """Write per-ISP reports (CSV, X-ARF, JSON, e-mail) for new and changed cases."""
    if not dry_run:
        # Cases first, so hosts detected since the last case update are not left out.
        update_cases(app.settings, app.engine, actor="notify")
    summary = run_notify(app.settings, app.engine, dry_run=dry_run)
    app.console.print(_table(summary))
    if summary.unassigned:
        app.console.print(f"{len(summary.unassigned)} infected host(s) with no ISP in the registry "
                          f"(listed in {app.settings.outbox_path / '_unassigned'})")  # fmt: skip
    if summary.out_of_scope:
        app.console.print(f"{len(summary.out_of_scope)} infected host(s) outside the country scope "
                          f"(listed in {app.settings.outbox_path / '_out_of_scope'})")  # fmt: skip
    for r in summary.failed:
        app.fail(f"{r.isp}: {r.error}")
    if summary.failed:
        raise SystemExit(1)


commands: list[click.Command] = [notify_cmd]
