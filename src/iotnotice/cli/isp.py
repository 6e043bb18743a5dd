"""``iotnotice isp …``: the ISP's own deployment (its own --data-dir and database)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from iotnotice.cli.context import AppContext, pass_app
from iotnotice.isp.alerts import CHANNELS, render_landing, send_alerts
from iotnotice.isp.casework import (
    STATUSES,
    add_note,
    case_detail,
    list_cases,
    load_subscribers,
    set_status_by_notice,
)
from iotnotice.isp.coordinator import (
    PullSummary,
    PushSummary,
    pull_reports,
    push_status,
    sync_every,
)
from iotnotice.isp.logs import load_logs
from iotnotice.isp.match import match_cases
from iotnotice.isp.quarantine import (
    FORMATS,
    export_quarantine,
    held,
    quarantine_cases,
    release,
)
from iotnotice.isp.reports import import_reports

__all__ = ["commands", "isp_group"]

_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("isp")
def isp_group() -> None:
    """ISP toolkit: import reports, match subscribers, alert, quarantine, report back."""


@isp_group.command("import-reports")
@click.argument("files", nargs=-1, required=True, type=_FILES)
@pass_app
def import_reports_cmd(app: AppContext, files: tuple[Path, ...]) -> None:
    """Import report files: Shadowserver CSV, X-ARF v4 JSON or the JSON format."""
    s = import_reports(app.engine, list(files))
    app.console.print(
        f"{s.files} file(s), {s.lines} line(s): [green]{s.created} new[/], "
        f"{s.updated} updated, {s.unchanged} already known"
    )


@isp_group.command("load-logs")
@click.option("--radius", multiple=True, type=_FILES, help="FreeRADIUS accounting detail file.")
@click.option("--dhcpd", multiple=True, type=_FILES, help="ISC dhcpd.leases file.")
@click.option("--kea", multiple=True, type=_FILES, help="Kea DHCPv4 lease CSV file.")
@click.option("--cgnat", multiple=True, type=_FILES, help="CGNAT port-block log (CSV).")
@pass_app
def load_logs_cmd(
    app: AppContext,
    radius: tuple[Path, ...],
    dhcpd: tuple[Path, ...],
    kea: tuple[Path, ...],
    cgnat: tuple[Path, ...],
) -> None:
    """Load subscriber logs (a file already loaded is skipped)."""
    given = {"radius": radius, "dhcpd": dhcpd, "kea": kea, "cgnat": cgnat}
    if not any(given.values()):
        raise click.UsageError("give at least one of --radius, --dhcpd, --kea, --cgnat")
    table = Table("file", "kind", "rows", "status")
    for kind, paths in given.items():
        for r in load_logs(app.settings, kind, list(paths)):
            table.add_row(str(r.path), r.kind, f"{r.rows:,}", r.status)
    app.console.print(table)


@isp_group.command("load-subscribers")
@click.argument("files", nargs=-1, required=True, type=_FILES)
@pass_app
def load_subscribers_cmd(app: AppContext, files: tuple[Path, ...]) -> None:
    """Load the subscriber directory (CSV: subscriber,name,email,phone,postal_address,language)."""
    app.console.print(f"{load_subscribers(app.engine, list(files))} subscriber(s) loaded")


@isp_group.command("match")
@click.option("--rematch", is_flag=True, help="Match already matched cases again too.")
@pass_app
def match_cmd(app: AppContext, rematch: bool) -> None:
    """Match cases to subscribers; list the ambiguous and unmatched ones with the reason."""
    s = match_cases(app.settings, app.engine, rematch=rematch)
    app.console.print(
        f"[green]{s.matched} matched[/], [yellow]{s.ambiguous} ambiguous[/], "
        f"[red]{s.unmatched} unmatched[/]"
    )
    if s.problems:
        table = Table("case", "ip", "result", "reason")
        for case_id, ip, status, reason in s.problems:
            table.add_row(str(case_id), ip, status, reason)
        app.console.print(table)


@isp_group.command("cases")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option(
    "--match", "match_status", type=click.Choice(["pending", "matched", "ambiguous", "unmatched"])
)
@pass_app
def cases_cmd(app: AppContext, status: str | None, match_status: str | None) -> None:
    """List ISP-side cases."""
    table = Table(
        "id", "notice ID", "ip", "port", "observed (UTC)", "match", "subscriber", "status"
    )
    for c in list_cases(app.engine, status, match_status):
        table.add_row(
            str(c.id),
            c.notice_id or "-",
            c.ip,
            "-" if c.src_port is None else str(c.src_port),
            f"{c.observed_at:%Y-%m-%d %H:%M:%S}",
            c.match_status,
            c.subscriber or "-",
            c.status,
        )
    app.console.print(table)


@isp_group.command("show")
@click.argument("case_id", type=int)
@pass_app
def show_cmd(app: AppContext, case_id: int) -> None:
    """One case: its match, alert history, walled-garden state, status updates and notes."""
    d = case_detail(app.engine, case_id)
    c = d.case
    fields = {
        "notice ID": c.notice_id or "-",
        "address": c.ip + ("" if c.src_port is None else f" port {c.src_port}"),
        "observed": f"{c.observed_at:%Y-%m-%d %H:%M:%S} UTC",
        "report": f"{c.source_format} {c.source_file} line {c.source_line}",
        "match": f"{c.match_status} {c.subscriber or ''} {c.match_source} {c.match_reason}",
        "status": c.status,
    }
    for key, value in fields.items():
        app.console.print(f"[bold]{key:>9}[/] {value}", highlight=False, markup=True)
    for a in d.alerts:
        app.console.print(f"  alert {a.created_at:%Y-%m-%d %H:%M} {a.channel} {a.state} {a.error}")
    for q in d.quarantine:
        app.console.print(
            f"  walled garden {q.state} since {q.since:%Y-%m-%d %H:%M} {q.release_reason}"
        )
    for u in d.updates:
        app.console.print(f"  to coordinator: {u.status} {u.state} {u.error}")
    if c.notes:
        app.console.print(c.notes, markup=False, highlight=False)


@isp_group.command("note")
@click.argument("case_id", type=int)
@click.argument("text")
@pass_app
def note_cmd(app: AppContext, case_id: int, text: str) -> None:
    """Add a note to a case (kept at the ISP)."""
    add_note(app.engine, case_id, text)
    app.console.print(f"note added to case {case_id}")


@isp_group.command("alert")
@click.option("--channel", type=click.Choice(CHANNELS), default="email", show_default=True)
@click.option("--preview", is_flag=True, help="Render the alerts and print them; send nothing.")
@pass_app
def alert_cmd(app: AppContext, channel: str, preview: bool) -> None:
    """Alert subscribers of matched cases (e-mail via SMTP; letters and SMS as files)."""
    s = send_alerts(app.settings, app.engine, channel, preview=preview)
    for subscriber, alert in s.previews:
        app.console.rule(f"{channel} to {subscriber} ({alert.language})")
        if alert.subject:
            click.echo(f"Subject: {alert.subject}\n")
        click.echo(alert.body)
    if preview:
        app.console.print(f"{len(s.previews)} alert(s) previewed, none sent")
        return
    app.console.print(f"[green]{s.sent} alert(s) {channel}[/], [red]{s.failed} failed[/]")
    for subscriber, why in s.skipped:
        app.console.print(f"  {subscriber}: {why}", markup=False)
    for path in s.files:
        app.console.print(f"  wrote {path}", markup=False)


@isp_group.group("quarantine")
def quarantine_group() -> None:
    """Walled garden: hold, export, release."""


@quarantine_group.command("add")
@click.argument("case_ids", nargs=-1, type=int)
@pass_app
def quarantine_add(app: AppContext, case_ids: tuple[int, ...]) -> None:
    """Hold the subscribers of these cases (default: every alerted case)."""
    held_now = quarantine_cases(app.engine, case_ids)
    app.console.print(f"{len(held_now)} subscriber(s) in the walled garden")


@quarantine_group.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@pass_app
def quarantine_export(app: AppContext, fmt: str, output: Path | None) -> None:
    """Write the walled-garden list as an nftables, ipset or RADIUS users file."""
    export = export_quarantine(app.settings, app.engine, fmt)
    if output is None:
        click.echo(export.text, nl=False)
        return
    output.write_text(export.text, encoding="utf-8")
    app.err.print(f"wrote {output} ({len(export.addresses)} address(es))")


@quarantine_group.command("list")
@pass_app
def quarantine_list(app: AppContext) -> None:
    """Subscribers currently held."""
    table = Table("subscriber", "reported ip", "since", "case")
    for q in held(app.engine):
        table.add_row(q.subscriber, q.ip, f"{q.since:%Y-%m-%d %H:%M}", str(q.case_id or "-"))
    app.console.print(table)


@quarantine_group.command("release")
@click.argument("subscriber")
@click.option("--reason", default="on request", show_default=True)
@pass_app
def quarantine_release(app: AppContext, subscriber: str, reason: str) -> None:
    """Release a subscriber from the walled garden."""
    app.console.print(f"released {release(app.engine, subscriber, reason)} entr(y/ies)")


@quarantine_group.command("landing")
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
@pass_app
def quarantine_landing(app: AppContext, lang: str) -> None:
    """Print the walled-garden landing page (HTML)."""
    click.echo(render_landing(app.settings, lang), nl=False)


@isp_group.command("status")
@click.argument("notice_id")
@click.argument("status", type=click.Choice(STATUSES[1:]))
@click.option("--note", default="", help="Kept in the ISP's case notes; not sent.")
@click.option("--no-push", is_flag=True, help="Queue the update; do not contact the coordinator.")
@pass_app
def status_cmd(app: AppContext, notice_id: str, status: str, note: str, no_push: bool) -> None:
    """Set a notice's status and report it to the coordinator."""
    count = set_status_by_notice(app.engine, notice_id, status, note)
    app.console.print(f"{count} case(s) of {notice_id.upper()} now {status}")
    if no_push or not app.settings.isp_coordinator_url:
        app.console.print("update queued; send it with 'iotnotice isp push'")
        return
    _push(app)


@isp_group.command("push")
@pass_app
def push_cmd(app: AppContext) -> None:
    """Send queued status updates to the coordinator."""
    _push(app)


def _push(app: AppContext) -> None:
    s = push_status(app.settings, app.engine)
    app.console.print(f"{s.sent} status update(s) sent to the coordinator")
    for notice, status, error in s.failed:
        app.console.print(f"  [red]{notice} {status}: {error}[/]")


@isp_group.command("pull")
@click.option(
    "--every",
    type=click.FloatRange(min=10),
    default=None,
    help="Keep running: pull reports and push statuses every SECONDS (Ctrl-C stops).",
)
@pass_app
def pull_cmd(app: AppContext, every: float | None) -> None:
    """Fetch new reports from the coordinator's API and import them."""
    if every is None:
        _pulled(app, pull_reports(app.settings, app.engine))
        return

    def report(pulled: PullSummary, pushed: PushSummary) -> None:
        _pulled(app, pulled)
        app.console.print(f"{pushed.sent} status update(s) sent")
        for notice, status, error in pushed.failed:
            app.console.print(f"  [red]{notice} {status}: {error}[/]")

    try:
        sync_every(app.settings, app.engine, every, report=report)
    except KeyboardInterrupt:
        app.console.print("stopped")


def _pulled(app: AppContext, s: PullSummary) -> None:
    i = s.imported
    app.console.print(
        f"{len(s.fetched)} report file(s) fetched: {i.created} new case(s), "
        f"{i.updated} updated, {i.unchanged} already known"
    )


commands: list[click.Command] = [isp_group]
