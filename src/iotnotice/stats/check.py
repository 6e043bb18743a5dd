"""``iotnotice check`` for the stats part: are the daily aggregates there and compacted?"""

from __future__ import annotations

from iotnotice.settings import Settings
from iotnotice.stats.aggregates import aggregates_path
from iotnotice.stats.monthsets import month_sets_fresh

__all__ = ["check"]


def check(settings: Settings) -> list[str]:
    """Notes when statistics would fall back to slower paths (never wrong figures)."""
    flows = any(settings.flows_path.glob("sensor=*/date=*/hour=*/*.parquet"))
    root = aggregates_path(settings)
    daily = any(root.glob("sources/sensor=*/date=*/*.parquet"))
    if flows and not daily:
        return ["no daily aggregates: run `iotnotice stats --rebuild-aggregates` once"]
    if daily and not month_sets_fresh(root):
        return ["monthly source sets are stale: yearly statistics run slower until compacted"]
    return []
