"""Daily aggregates written per chunk give exactly the figures of a full flow scan."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
from click.testing import CliRunner
from stats_store import Store

from iotnotice.cli import cli
from iotnotice.cli.stats import report_cmd, stats_cmd
from iotnotice.stats import (
    aggregate_committed_files,
    compact_aggregates,
    protocol_mix,
    rebuild_aggregates,
    remove_aggregates,
    statistics,
    top_ports,
    update_daily_aggregates,
)
from iotnotice.stats.aggregates import aggregates_path
from iotnotice.stats.check import check as stats_check
from iotnotice.stats.monthsets import month_sets_fresh, refresh_month_sets

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _years(store: Store) -> np.ndarray:
    return np.array([datetime.fromtimestamp(int(t), UTC).year for t in store.columns["time"]])


def _feed(store: Store) -> None:
    for sensor, chunk_id, table in store.chunks:
        update_daily_aggregates(store.settings, table, sensor, chunk_id)


def test_aggregates_equal_flow_scan_for_every_period(store: Store) -> None:
    """Year, month and day tables from aggregates equal those from the flow scan."""
    _feed(store)
    for by in ("year", "month", "day"):
        scan = statistics(store.settings, store.engine, by, source="flows", now=NOW)
        fast = statistics(store.settings, store.engine, by, source="aggregates", now=NOW)
        assert fast == scan
        assert len(fast) >= 2
    assert top_ports(store.settings, source="aggregates") == top_ports(
        store.settings, source="flows"
    )
    assert protocol_mix(store.settings, source="aggregates") == protocol_mix(
        store.settings, source="flows"
    )


def test_rewriting_a_chunk_does_not_double_count(store: Store) -> None:
    """Feeding the same chunks twice leaves the figures unchanged (keyed by chunk id)."""
    _feed(store)
    once = statistics(store.settings, store.engine, "day", source="aggregates", now=NOW)
    _feed(store)
    assert statistics(store.settings, store.engine, "day", source="aggregates", now=NOW) == once


def test_remove_and_rebuild(store: Store) -> None:
    """Removing a chunk's aggregates drops its packets; a rebuild restores the scan figures."""
    _feed(store)
    _sensor, chunk_id, table = store.chunks[0]
    before = statistics(store.settings, store.engine, "year", source="aggregates", now=NOW)
    assert remove_aggregates(store.settings, chunk_id) == 2
    after = statistics(store.settings, store.engine, "year", source="aggregates", now=NOW)
    lost = int(table.column("packet_cnt").to_numpy().sum())
    assert sum(r["packets"] for r in before) - sum(r["packets"] for r in after) == lost
    assert rebuild_aggregates(store.settings) > 0
    scan = statistics(store.settings, store.engine, "year", source="flows", now=NOW)
    assert statistics(store.settings, store.engine, "year", source="aggregates", now=NOW) == scan
    assert not list(aggregates_path(store.settings).parent.glob(".aggregates-*"))


def test_stats_command_prints_json_csv_and_table(store: Store) -> None:
    """`iotnotice stats` prints the yearly figures in each format; a bad --by exits non-zero."""
    cli.add_command(stats_cmd)
    runner = CliRunner()
    base = ["--data-dir", str(store.settings.data_path), "stats"]
    out = runner.invoke(cli, [*base, "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["period"] for r in rows] == ["2023", "2024"]
    assert rows[0]["monitored_addresses"] == 512
    csv_out = runner.invoke(cli, [*base, "--by", "month", "--format", "csv"])
    assert csv_out.output.splitlines()[0].startswith("period,packets,monitored_addresses")
    assert len(csv_out.output.splitlines()) == 1 + 3
    plot = store.settings.data_path / "packets.png"
    table = runner.invoke(cli, [*base, "--rebuild-aggregates", "--plot", str(plot)])
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert table.exit_code == 0 and "Darknet statistics per year" in table.output
    assert runner.invoke(cli, [*base, "--by", "week"]).exit_code != 0
    per = json.loads(runner.invoke(cli, [*base, "--per-sensor", "--format", "json"]).output)
    assert [(r["sensor"], r["period"]) for r in per] == [
        ("east", "2023"),
        ("east", "2024"),
        ("west", "2023"),
        ("west", "2024"),
    ]
    assert sum(r["packets"] for r in per) == sum(r["packets"] for r in rows)
    assert [r["monitored_addresses"] for r in per] == [256, 256, 256, 256]


def test_report_is_one_self_contained_html_file(store: Store, tmp_path) -> None:
    """`iotnotice report` writes HTML with the yearly table and inline SVG plots, no links out."""
    cli.add_command(report_cmd)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["--data-dir", str(store.settings.data_path), "report", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    total = int(store.columns["packet_cnt"][_years(store) == 2024].sum())
    assert "Statistics per year" in html and f"{total:,}" in html
    assert html.count("<svg") >= 3
    # Only in-document references (matplotlib's "#id" links); nothing fetched from elsewhere.
    assert "<script" not in html and not re.findall(r'(?:href|src)="(?!#)', html)


def test_month_sets_answer_years_and_go_stale_safely(store: Store) -> None:
    """After a rebuild, month sets answer year/month tables; a new chunk makes them stale and
    the figures still match the scan (fallback), until a refresh compacts them again."""
    rebuild_aggregates(store.settings)
    root = aggregates_path(store.settings)
    assert month_sets_fresh(root)
    for by in ("year", "month"):
        assert statistics(store.settings, store.engine, by, source="aggregates", now=NOW) == (
            statistics(store.settings, store.engine, by, source="flows", now=NOW)
        )
    sensor, _, table = store.chunks[0]
    update_daily_aggregates(store.settings, table, sensor, "extra")
    assert not month_sets_fresh(root)
    year = statistics(store.settings, store.engine, "year", source="aggregates", now=NOW)
    assert sum(r["packets"] for r in year) == int(store.columns["packet_cnt"].sum()) + int(
        table.column("packet_cnt").to_numpy().sum()
    )
    assert refresh_month_sets(root) >= 1 and month_sets_fresh(root)
    assert statistics(store.settings, store.engine, "year", source="aggregates", now=NOW) == year


def test_reingest_after_rebuild_replaces_not_doubles(store: Store) -> None:
    """A rebuild keys aggregates by flow file, so the ingest hook later replaces them exactly."""
    rebuild_aggregates(store.settings)
    before = statistics(store.settings, store.engine, "year", source="aggregates", now=NOW)
    sensor, chunk_id, _ = store.chunks[0]
    files = list(store.settings.flows_path.glob(f"sensor={sensor}/date=*/hour=*/{chunk_id}-*"))
    assert aggregate_committed_files(store.settings, sensor, chunk_id, files) == 2
    assert statistics(store.settings, store.engine, "year", source="aggregates", now=NOW) == before
    # The rewritten day's month set is stale until compacted; figures are the same either way.
    assert not month_sets_fresh(aggregates_path(store.settings))
    assert compact_aggregates(store.settings) >= 1
    assert month_sets_fresh(aggregates_path(store.settings))
    assert statistics(store.settings, store.engine, "year", source="aggregates", now=NOW) == before


def test_check_notes_missing_and_stale_aggregates(store: Store) -> None:
    """Flows without aggregates, then stale month sets, are reported; compacted is clean."""
    assert "rebuild-aggregates" in stats_check(store.settings)[0]
    _feed(store)
    assert "stale" in stats_check(store.settings)[0]
    compact_aggregates(store.settings)
    assert stats_check(store.settings) == []
