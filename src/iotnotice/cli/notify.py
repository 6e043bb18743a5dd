"""``iotnotice notify`` writes each ISP's due report to the outbox; ``deliver`` e-mails them."""

from __future__ import annotations

import click
from rich.table import Table

from iotnotice.cases import update_cases
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.notify import NotifySummary, run_notify
from iotnotice.notify.smtp import DeliverySummary, deliver_outbox

__all__ = ["commands", "deliver_cmd", "notify_cmd"]


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
    if not dry_run and app.settings.smtp_host:
        _print_delivery(app, deliver_outbox(app.settings, app.engine))
    if summary.failed:
        raise SystemExit(1)


def _print_delivery(app: AppContext, result: DeliverySummary) -> None:
    app.console.print(
        f"e-mail: {len(result.sent)} sent, {len(result.retrying)} to retry, "
        f"{len(result.failed)} failed",
        highlight=False,
    )
    for message_id, error in result.errors.items():
        app.console.print(f"  {message_id}: {error}", highlight=False)


@click.command("deliver")
@click.option(
    "--wait", is_flag=True, help="Keep retrying (with back-off) until nothing is pending."
)
@pass_app
def deliver_cmd(app: AppContext, wait: bool) -> None:
    """Send queued report e-mail over SMTP (smtp_host, STARTTLS, AUTH)."""
    result = deliver_outbox(app.settings, app.engine, wait=wait)
    _print_delivery(app, result)
    if result.failed:
        raise SystemExit(1)


commands: list[click.Command] = [notify_cmd, deliver_cmd]
