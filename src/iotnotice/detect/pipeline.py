"""map_ahead: results of a function over a stream of items, in order, computed ahead.

Detection reads partial rows pass by pass (I/O and decompression, which release the GIL) and
merges each pass (numpy/numba, which mostly do too). A reader thread pulls the passes and a
pool merges them, so the caller's own work between two results (classifying and storing a
chunk of hosts) does not stall the reading or the merging; at most ``threads + 1`` items are
in flight, which bounds memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["MapAhead", "map_ahead"]

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


class MapAhead(Generic[R]):
    """``fn(item)`` for each item, in order: items read by a thread of their own (started at
    once), ``fn`` run by a pool of ``threads``. An exception of the reader or of ``fn`` is
    raised by ``next``; ``close`` (or the end) stops the reader and the pool."""

    def __init__(self, fn: Callable[[T], R], items: Iterable[T], threads: int) -> None:
        threads = max(1, threads)
        ahead: queue.Queue[object] = queue.Queue(maxsize=threads + 1)
        stop = threading.Event()
        pool = ThreadPoolExecutor(threads)
        self._ahead, self._stop, self._pool, self._closed = ahead, stop, pool, False

        # (The reader holds no reference to this object: one dropped unread is collected,
        # and its __del__ stops the reader.)
        def put(value: object) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(value, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for item in items:
                    if not put(pool.submit(fn, item)):
                        return
                put(_DONE)
            except BaseException as exc:  # handed to the caller, raised there
                put(exc)

        self._reader = threading.Thread(target=read, name="map_ahead-reader", daemon=True)
        self._reader.start()

    def __iter__(self) -> Iterator[R]:
        return self

    def __next__(self) -> R:
        if self._closed:
            raise StopIteration
        got = self._ahead.get()
        if got is _DONE:
            self.close()
            raise StopIteration
        if isinstance(got, BaseException):
            self.close()
            raise got
        future: Future[R] = got  # type: ignore[assignment]
        try:
            return future.result()
        except BaseException:
            self.close()
            raise

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; results nobody will read are dropped (running ones finish)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._reader.join()
        while not self._ahead.empty():
            left = self._ahead.get_nowait()
            if isinstance(left, Future):
                left.cancel()
        self._pool.shutdown(wait=True)


def map_ahead(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """The results of :class:`MapAhead`, closing it however the iteration ends."""
    ahead = MapAhead(fn, items, threads)
    try:
        yield from ahead
    finally:
        ahead.close()
