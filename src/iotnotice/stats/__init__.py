"""NICTER-style statistics over the flow store, and the daily aggregates that keep them fast."""

from __future__ import annotations

from iotnotice.stats.aggregates import (
    aggregate_committed_files,
    compact_aggregates,
    rebuild_aggregates,
    remove_aggregates,
    update_daily_aggregates,
)
from iotnotice.stats.summary import protocol_mix, statistics, statistics_per_sensor, top_ports

__all__ = [
    "aggregate_committed_files",
    "compact_aggregates",
    "protocol_mix",
    "rebuild_aggregates",
    "remove_aggregates",
    "statistics",
    "statistics_per_sensor",
    "top_ports",
    "update_daily_aggregates",
]
