"""``iotnotice report``: one self-contained HTML file of tables and plots to publish."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from iotnotice.settings import Settings
from iotnotice.stats.hosts import infected_per_day, top_sources
from iotnotice.stats.plots import bar_figure, figure_bytes, line_figure
from iotnotice.stats.remediation import notified_cases, remediation, survival_curve
from iotnotice.stats.summary import protocol_mix, statistics, top_ports

__all__ = ["build_report", "write_report"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:62rem;margin:auto;padding:1rem;"
    "color:#1a1a1a}table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "th,td{border:1px solid #999;padding:.2rem .6rem}td{text-align:right}th{background:#eef}"
    "svg{max-width:100%;height:auto}"
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(title: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"<h2>{escape(title)}</h2><p>No data.</p>"
    keys = [k for k in rows[0] if not isinstance(rows[0][k], dict)]
    head = "".join(f"<th scope='col'>{escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r[k])}</td>" for k in keys) + "</tr>" for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<h2>{escape(title)}</h2>{table}"


def _svg(fig: Any) -> str:
    text = figure_bytes(fig, "svg").decode()
    return text[text.index("<svg") :]


def build_report(settings: Settings, engine: Engine, now: datetime | None = None) -> str:
    """The report as one HTML document (plots inline as SVG; no external files)."""
    now = now or datetime.now(UTC)
    years = statistics(settings, engine, "year", now=now)
    days = statistics(settings, engine, "day", now=now)
    ports = top_ports(settings, limit=10)
    infected = infected_per_day(settings, engine)
    cases = notified_cases(engine)
    parts = [
        _table("Statistics per year", years),
        _svg(
            line_figure("Packets per day", [(d["period"], d["packets"]) for d in days], "packets")
        ),
        _table("Top destination ports", ports),
        _svg(
            bar_figure(
                "Top destination ports",
                [(f"{p['port']}/{p['protocol']}", p["packets"]) for p in ports],
                "packets",
            )
        ),
        _table("Protocol mix", protocol_mix(settings)),
        _table("Top source countries", top_sources(engine, "country")),
        _table("Top source ASes", top_sources(engine, "as_name")),
        _table("Infected hosts per day", infected),
        _svg(
            line_figure(
                "Infected hosts per day", [(r["day"], r["infected"]) for r in infected], "hosts"
            )
        ),
        _table("Remediation", remediation(engine, now)),
        _svg(
            line_figure(
                "Share of notified hosts still observed",
                [(str(d), s) for d, s in survival_curve(cases, now)],
                "share",
            )
        ),
        "<p>Caveat: an address change (DHCP churn) also makes a host disappear; "
        "<em>isp_confirmed</em> counts cases whose ISP reported a status back.</p>",
    ]
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>iotnotice report {stamp}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Darknet report ({stamp})</h1>" + "".join(parts) + "</body></html>"
    )


def write_report(
    settings: Settings, engine: Engine, out: Path, now: datetime | None = None
) -> Path:
    """Write :func:`build_report` to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(settings, engine, now), encoding="utf-8")
    return out
