"""``iotnotice notify`` writes each ISP's due report to the outbox; ``deliver`` e-mails them."""

from __future__ import annotations

import click
from rich.table import Table

from iotnotice.cases import update_cases
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.notify import NotifySummary, run_notify
from iotnotice.notify.smtp import DeliverySummary, deliver_outbox
from iotnotice.notify.tokens import create_token, list_tokens, revoke_token

__all__ = ["api_token_group", "commands", "deliver_cmd", "notify_cmd"]


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
        table.add_row(
            r.display_name,
            str(r.due),
            str(r.new),
            str(r.changed),
            str(r.reminders),
            str(r.suppressed),
            str(len(r.files)),
            note,
        )
    return table


@click.command("notify")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; write and change nothing.")
@pass_app
def notify_cmd(app: AppContext, dry_run: bool) -> None:
    """Write per-ISP reports (CSV, X-ARF, JSON, e-mail) for new and changed cases."""
    # Cases first, so hosts detected since the last case update are not left out.
    cases = update_cases(app.settings, app.engine, actor="notify", dry_run=dry_run)
    summary = run_notify(app.settings, app.engine, dry_run=dry_run)
    app.console.print(_table(summary))
    if dry_run and cases.opened:
        app.console.print(
            f"{cases.opened} infected host(s) have no case yet; a real run opens "
            "and reports them too."
        )
    if summary.unassigned:
        app.console.print(
            f"{len(summary.unassigned)} infected host(s) with no ISP in the registry "
            f"(listed in {app.settings.outbox_path / '_unassigned'})"
        )
    if summary.out_of_scope:
        app.console.print(
            f"{len(summary.out_of_scope)} infected host(s) outside the country scope "
            f"(listed in {app.settings.outbox_path / '_out_of_scope'})"
        )
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


@click.group("api-token")
def api_token_group() -> None:
    """Tokens of the ISP pull API (one or more per ISP; only hashes are stored)."""


@api_token_group.command("create")
@click.argument("isp")
@click.option("--label", default="", help="What the token is for (shown in listings).")
@pass_app
def token_create(app: AppContext, isp: str, label: str) -> None:
    """Issue a token for ISP; it is printed once and cannot be shown again."""
    token_id, token = create_token(app.engine, isp, label)
    app.console.print(f"token {token_id} for {isp}:", highlight=False)
    click.echo(token)


@api_token_group.command("list")
@pass_app
def token_list(app: AppContext) -> None:
    """List tokens (id, ISP, prefix, label, state)."""
    table = Table(title="ISP API tokens")
    for col in ("id", "isp", "prefix", "label", "created", "state"):
        table.add_column(col)
    for t in list_tokens(app.engine):
        state = "revoked" if t.revoked_at else "active"
        table.add_row(str(t.id), t.isp, t.prefix + "…", t.label, f"{t.created_at:%Y-%m-%d}", state)
    app.console.print(table)


@api_token_group.command("revoke")
@click.argument("token_id", type=int)
@pass_app
def token_revoke(app: AppContext, token_id: int) -> None:
    """Revoke token TOKEN_ID."""
    revoke_token(app.engine, token_id)
    app.console.print(f"token {token_id} revoked", highlight=False)


commands: list[click.Command] = [notify_cmd, deliver_cmd, api_token_group]
