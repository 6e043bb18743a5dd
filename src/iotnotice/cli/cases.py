"""``iotnotice cases``: list cases, show one by notice ID, change its status."""

from __future__ import annotations

import click
from rich.table import Table

from iotnotice.cases import STATUSES, get_case, list_cases, set_status, update_cases
from iotnotice.cli.context import AppContext, pass_app
from iotnotice.db.models import Case

__all__ = ["cases_group", "commands"]


def _when(case: Case, attr: str) -> str:
    value = getattr(case, attr)
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


@click.group("cases")
def cases_group() -> None:
    """Cases: one infected host at one ISP, with a notice ID and a lifecycle."""


@cases_group.command("update")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@pass_app
def update_cmd(app: AppContext, dry_run: bool) -> None:
    """Open, extend, reopen (reinfection) and expire cases from the latest detection."""
    s = update_cases(app.settings, app.engine, actor="cli", dry_run=dry_run)
    verb = "would be" if dry_run else "were"
    app.console.print(
        f"cases: {s.opened} {verb} opened ({s.reinfections} reinfections), {s.extended} extended, "
        f"{s.expired} expired, {s.unchanged} unchanged; {s.open_cases} open",
        highlight=False,
    )


@cases_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option("--isp", default=None, help="Only cases of this ISP (registry name).")
@click.option("--limit", type=int, default=None, help="At most this many (newest first).")
@pass_app
def list_cmd(app: AppContext, status: str | None, isp: str | None, limit: int | None) -> None:
    """List cases, newest first."""
    cases = list_cases(app.engine, status=status, isp=isp, limit=limit)
    table = Table(title=f"{len(cases)} case(s)")
    for col in ("notice ID", "ip", "isp", "status", "family", "first seen", "last seen"):
        # IDs and addresses are copied from here: never truncate them.
        table.add_column(col, no_wrap=col in ("notice ID", "ip"))
    table.add_column("packets", justify="right")
    for c in cases:
        isp_name = c.isp.name if c.isp else "(unassigned)"
        status_text = c.status + (" (reinfection)" if c.reinfection_of else "")
        table.add_row(
            c.notice_id,
            c.ip,
            isp_name,
            status_text,
            c.family,
            _when(c, "first_seen"),
            _when(c, "last_seen"),
            str(c.packets),
        )
    app.console.print(table)


@cases_group.command("show")
@click.argument("notice_id")
@pass_app
def show_cmd(app: AppContext, notice_id: str) -> None:
    """Show one case and its history."""
    case = get_case(app.engine, notice_id)
    info = Table(show_header=False, title=f"case {case.notice_id}")
    info.add_column(style="bold")
    info.add_column()
    for key, value in (
        ("ip", case.ip),
        ("isp", case.isp.name if case.isp else "(unassigned)"),
        ("asn / country", f"{case.asn or '-'} / {case.country or '-'}"),
        ("status", case.status),
        ("family", f"{case.family} (confidence {case.confidence:.2f})"),
        ("seen", f"{_when(case, 'first_seen')} .. {_when(case, 'last_seen')} UTC"),
        ("packets / ports", f"{case.packets} / {case.ports or '-'}"),
        ("last reported", _when(case, "last_reported_at") or "never"),
    ):
        info.add_row(key, str(value))
    app.console.print(info)
    events = Table(title="history")
    for col in ("at (UTC)", "actor", "change", "note"):
        events.add_column(col)
    for e in case.events:
        change = (
            e.to_status
            if e.from_status in (None, e.to_status)
            else f"{e.from_status} -> {e.to_status}"
        )
        events.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, change, e.note)
    app.console.print(events)


@cases_group.command("set-status")
@click.argument("notice_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--note", default="", help="Why (kept in the case history).")
@click.option("--actor", default="operator", show_default=True, help="Who makes the change.")
@pass_app
def set_status_cmd(app: AppContext, notice_id: str, status: str, note: str, actor: str) -> None:
    """Change a case's status (the lifecycle decides which changes are allowed)."""
    event = set_status(app.engine, notice_id, status, actor, note)
    app.console.print(f"{event.from_status} -> {event.to_status}", highlight=False)


commands: list[click.Command] = [cases_group]
