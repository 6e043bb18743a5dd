"""FlowWriter.split: a table cut into its hours, in hour order, rows kept in order within."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from iotnotice.store.writer import FlowWriter

H = 1_700_000_000 // 3600 * 3600  # an hour boundary


def _split(tmp_path: Path, times: list[int]) -> list[tuple[int, list[int], list[int]]]:
    writer = FlowWriter(tmp_path / "flows", tmp_path / "tmp", "s", "id")
    table = pa.table({"time": np.array(times, dtype=np.int64), "row": np.arange(len(times))})
    return [
        (hour, part.column("time").to_pylist(), part.column("row").to_pylist())
        for hour, part, _prepared in writer.split(table)
    ]


def test_one_hour_is_one_part(tmp_path: Path) -> None:
    times = [H + 60, H, H + 3599]
    assert _split(tmp_path, times) == [(H // 3600, times, [0, 1, 2])]


def test_hours_in_order_are_cut_where_they_change(tmp_path: Path) -> None:
    times = [H, H + 3599, H + 3600, H + 3600, H + 5 * 3600]
    assert _split(tmp_path, times) == [
        (H // 3600, [H, H + 3599], [0, 1]),
        (H // 3600 + 1, [H + 3600, H + 3600], [2, 3]),
        (H // 3600 + 5, [H + 5 * 3600], [4]),
    ]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_row(tmp_path: Path, n: int) -> None:
    got = _split(tmp_path, [H] * n)
    assert got == ([] if n == 0 else [(H // 3600, [H], [0])])


def test_hours_out_of_order_are_sorted_stably(tmp_path: Path) -> None:
    times = [H + 7200, H, H + 7201, H + 1, H + 3600]
    assert _split(tmp_path, times) == [
        (H // 3600, [H, H + 1], [1, 3]),
        (H // 3600 + 1, [H + 3600], [4]),
        (H // 3600 + 2, [H + 7200, H + 7201], [0, 2]),
    ]
