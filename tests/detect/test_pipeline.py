"""map_ahead / MapAhead: results in order, errors raised to the caller, reading bounded and
stopped when the caller stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowstore import syns, write_store

from iotnotice.detect.features import feature_chunks
from iotnotice.detect.pipeline import MapAhead, map_ahead
from iotnotice.settings import load_settings


def test_results_come_in_order_whatever_finishes_first() -> None:
    def slow_for_small(x: int) -> int:
        time.sleep(0.002 * (10 - x % 10))
        return x * x

    assert list(map_ahead(slow_for_small, range(40), 3)) == [x * x for x in range(40)]


def test_errors_of_the_function_and_of_the_reader_reach_the_caller() -> None:
    def fail_at_five(x: int) -> int:
        if x == 5:
            raise ValueError("five")
        return x

    got: list[int] = []
    with pytest.raises(ValueError, match="five"):
        for value in map_ahead(fail_at_five, range(10), 2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]

    def items() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(map_ahead(lambda x: x, items(), 2))


def test_reading_runs_ahead_only_so_far_and_stops_with_the_caller() -> None:
    read: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            read.append(i)
            yield i

    ahead = MapAhead(lambda x: x, items(), 2)
    assert next(ahead) == 0
    time.sleep(0.2)  # the reader fills what it may: threads + 1 in the queue, one in hand
    assert len(read) <= 5
    before = threading.active_count()
    ahead.close()
    assert len(read) <= 6 and threading.active_count() < before
    with pytest.raises(StopIteration):
        next(ahead)


def test_an_iterator_dropped_unread_stops_its_reader() -> None:
    started = threading.active_count()
    ahead = MapAhead(lambda x: x, iter(range(10**6)), 2)
    time.sleep(0.05)
    assert threading.active_count() > started
    del ahead
    deadline = time.time() + 5
    while threading.active_count() > started and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == started


def test_feature_chunks_closed_unstarted_stop_their_merge(tmp_path: Path) -> None:
    """run_detection closes its chunks even when it fails before reading one (the hosts table
    could not be emptied): the merge's reader and pool stop."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    write_store(settings.flows_path, syns("198.51.100.7", 50) + syns("192.0.2.9", 20))
    before = threading.active_count()
    chunks = feature_chunks(settings, 256)
    assert threading.active_count() > before  # the merge started with the call
    chunks.close()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
