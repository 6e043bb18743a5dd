"""map_ahead: results of a function over a stream of items, in order, computed ahead.

Detection reads partial rows pass by pass (I/O and decompression, which release the GIL) and
merges each pass (numpy/numba, which mostly do too). A reader thread pulls the passes and a
pool merges them, so the caller's own work between two results (classifying and storing a
chunk of hosts) does not stall the reading or the merging; at most ``depth`` items are in
flight, which bounds memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_ahead"]

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


def map_ahead(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """``fn(item)`` for each item, in order: items read by a thread of their own, ``fn`` run
    by a pool of ``threads``, up to ``threads + 1`` items in flight. An exception of the
    reader or of ``fn`` is raised here; closing the iterator early stops the reader."""
    threads = max(1, threads)
    ahead: queue.Queue[object] = queue.Queue(maxsize=threads + 1)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    with ThreadPoolExecutor(threads) as pool:

        def read() -> None:
            try:
                for item in items:
                    if not put(pool.submit(fn, item)):
                        return
                put(_DONE)
            except BaseException as exc:  # handed to the caller, raised there
                put(exc)

        reader = threading.Thread(target=read, name="map_ahead-reader", daemon=True)
        reader.start()
        try:
            while True:
                got = ahead.get()
                if got is _DONE:
                    break
                if isinstance(got, BaseException):
                    raise got
                future: Future[R] = got  # type: ignore[assignment]
                yield future.result()
        finally:
            stop.set()
            reader.join()
            while not ahead.empty():  # results nobody will read: let running ones finish
                left = ahead.get_nowait()
                if isinstance(left, Future):
                    left.cancel()
