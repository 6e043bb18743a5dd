"""Statistics from the flow store compared with counts computed from the written arrays."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from stats_store import Store

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.errors import IotnoticeError, NotFoundError
from iotnotice.stats import protocol_mix, statistics, top_ports
from iotnotice.stats.hosts import infected_per_day, top_sources

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _years(store: Store) -> np.ndarray:
    return np.array(
        [datetime.fromtimestamp(int(t), UTC).year for t in store.columns["time"]], dtype=np.int64
    )


def test_yearly_packets_and_sources_match_the_written_rows(store: Store) -> None:
    """Packets and unique sources per year equal sums over the written rows."""
    rows = statistics(store.settings, store.engine, "year", source="flows", now=NOW)
    years = _years(store)
    assert [r["period"] for r in rows] == ["2023", "2024"]
    for row in rows:
        mask = years == int(row["period"])
        assert row["packets"] == int(store.columns["packet_cnt"][mask].sum())
        assert row["sources"] == len(np.unique(store.columns["src_ip"][mask]))


def test_monitored_addresses_are_stated_and_time_weighted(store: Store) -> None:
    """A /24 all year plus a /24 from 2 July: 512 stated, 256 + 256 * share of year weighted."""
    row = statistics(store.settings, store.engine, "year", source="flows", now=NOW)[0]
    share = (datetime(2024, 1, 1, tzinfo=UTC) - datetime(2023, 7, 2, tzinfo=UTC)) / (
        datetime(2024, 1, 1, tzinfo=UTC) - datetime(2023, 1, 1, tzinfo=UTC)
    )
    assert row["monitored_addresses"] == 512
    assert row["monitored_addresses_avg"] == pytest.approx(256 + 256 * share)
    assert row["packets_per_address"] == pytest.approx(row["packets"] / (256 + 256 * share))


def test_current_period_is_weighted_up_to_now(store: Store) -> None:
    """Only the elapsed part of the current period counts in the time weighting."""
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    rows = statistics(store.settings, store.engine, "day", source="flows", now=now)
    day = next(r for r in rows if r["period"] == "2024-01-01")
    assert day["monitored_addresses"] == 512
    assert day["monitored_addresses_avg"] == pytest.approx(512)


def test_daily_rows_and_one_sensor(store: Store) -> None:
    """Per-day rows for one sensor count only that sensor's rows and address space."""
    rows = statistics(store.settings, store.engine, "day", sensor="east", source="flows", now=NOW)
    days = np.array(
        [datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d") for t in store.columns["time"]]
    )
    east = store.sensors == "east"
    assert [r["period"] for r in rows] == sorted(np.unique(days[east]).tolist())
    for row in rows:
        mask = east & (days == row["period"])
        assert row["packets"] == int(store.columns["packet_cnt"][mask].sum())
        assert row["monitored_addresses"] == 256
        assert row["packets_per_address"] == pytest.approx(row["packets"] / 256)


def test_top_ports_and_protocol_mix(store: Store) -> None:
    """Top ports and protocol shares equal packet sums per (protocol, port) and protocol."""
    cols = store.columns
    ports = top_ports(store.settings, limit=3, source="flows")
    expected = {}
    for proto, port, n in zip(cols["protocol"], cols["dst_port"], cols["packet_cnt"], strict=True):
        expected[(int(proto), int(port))] = expected.get((int(proto), int(port)), 0) + int(n)
    best = sorted(expected.items(), key=lambda kv: -kv[1])[:3]
    assert [p["packets"] for p in ports] == [n for _, n in best]
    mix = {m["protocol"]: m["packets"] for m in protocol_mix(store.settings, source="flows")}
    assert mix["udp"] == int(cols["packet_cnt"][cols["protocol"] == 17].sum())
    assert mix["icmp"] == int(cols["packet_cnt"][cols["protocol"] == 1].sum())


def test_empty_store_gives_no_rows(tmp_path, store: Store) -> None:
    """A data directory without flows yields an empty table, not an error."""
    empty = store.settings.replace(data_dir=str(tmp_path / "empty"))
    assert statistics(empty, store.engine, "year", source="flows") == []


def test_unknown_period_and_missing_aggregates_are_clear_errors(store: Store) -> None:
    """A bad period or a demand for absent aggregates raises a user-facing error."""
    with pytest.raises(IotnoticeError, match="unknown period"):
        statistics(store.settings, store.engine, "week")
    with pytest.raises(NotFoundError, match="aggregates"):
        statistics(store.settings, store.engine, "year", source="aggregates")


def test_infected_hosts_per_day_and_top_countries(store: Store) -> None:
    """Infected hosts per day count distinct infected sources seen that day, in scope or not."""
    first = datetime(2024, 1, 1, tzinfo=UTC)
    chosen = {0x0A000001: "JP", 0x0A000002: "US", 0x0A000003: "JP"}
    with session_scope(store.engine) as session:
        for n, (ip, cc) in enumerate(chosen.items()):
            text = ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0))
            session.add(
                DetectedHost(
                    ip=text,
                    classification="infected" if n < 2 else "scanner",
                    family="mirai",
                    confidence=1.0,
                    first_seen=first,
                    last_seen=first,
                    packets=10,
                    country=cc,
                )
            )
    days = np.array(
        [datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d") for t in store.columns["time"]]
    )
    rows = {r["day"]: r for r in infected_per_day(store.settings, store.engine)}
    for day in np.unique(days):
        seen = set(store.columns["src_ip"][days == day].tolist())
        expected_all = len(seen & {0x0A000001, 0x0A000002})
        expected_jp = len(seen & {0x0A000001})
        got = rows.get(str(day), {"infected": 0, "in_scope": 0})
        assert (got["infected"], got["in_scope"]) == (expected_all, expected_jp)
    assert top_sources(store.engine, "country")[0] == {"country": "JP", "sources": 2, "packets": 20}
