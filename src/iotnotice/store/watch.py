"""Follow a directory that ``tcpdump -G`` / ``dumpcap -b`` rotates captures into.

A file is ingested once it is complete: a newer file has appeared next to it (the writer has
rotated), or its size and modification time have not changed for ``settle`` seconds. After a
restart, files the manifest already holds under the same path and size are passed over
without hashing; anything else goes through :func:`ingest_file`, which is idempotent anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IngestFile
from iotnotice.errors import InputError
from iotnotice.settings import Settings
from iotnotice.store.ingest import IngestResult, Progress, ingest_file
from iotnotice.store.sensors import SensorInfo, ensure_default_sensor, get_sensor

__all__ = ["Watcher", "watch"]


@dataclass
class Watcher:
    """State of one directory watch: what was seen, and how each file last looked."""

    settings: Settings
    engine: Engine
    directory: Path
    sensor: SensorInfo
    settle: float = 30.0
    done: set[Path] = field(default_factory=set)
    _seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)

    def _already_ingested(self) -> set[tuple[str, int]]:
        with session_scope(self.engine) as session:
            rows = session.execute(
                select(IngestFile.path, IngestFile.size_bytes).where(
                    IngestFile.sensor_id == self.sensor.id,
                    IngestFile.outcome.in_(("ok", "damaged")),
                )
            )
            return {(p, s) for p, s in rows}

    def complete_files(self, now: float) -> list[Path]:
        """Files not yet handled that the capture writer has finished with, oldest first."""
        try:
            entries = [p for p in self.directory.iterdir() if p.is_file()]
        except FileNotFoundError:
            raise InputError(self.directory, "watched directory does not exist") from None
        files = sorted(
            (p for p in entries if not p.name.startswith(".")),
            key=lambda p: (p.stat().st_mtime_ns, p.name),
        )
        ready = []
        for k, path in enumerate(files):
            if path in self.done:
                continue
            st = path.stat()
            size, mtime, since = self._seen.get(path, (-1, -1, now))
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                self._seen[path] = (st.st_size, st.st_mtime_ns, now)
                since = now
            rotated = k < len(files) - 1
            if rotated or now - since >= self.settle:
                ready.append(path)
        return ready

    def poll(self, progress: Progress | None = None) -> list[IngestResult]:
        """Ingest every file that became complete since the last poll."""
        known = self._already_ingested()
        results = []
        for path in self.complete_files(time.monotonic()):
            self.done.add(path)
            self._seen.pop(path, None)
            if (str(path), path.stat().st_size) in known:
                continue
            results.append(ingest_file(self.settings, self.engine, path, self.sensor, progress))
        return results


def watch(
    settings: Settings,
    engine: Engine,
    directory: Path,
    sensor: str | None = None,
    *,
    interval: float = 2.0,
    settle: float = 30.0,
    stop: Callable[[], bool] = lambda: False,
    on_result: Callable[[IngestResult], object] | None = None,
) -> list[IngestResult]:
    """Poll ``directory`` every ``interval`` seconds until ``stop()``; all results."""
    info = get_sensor(engine, sensor) if sensor else ensure_default_sensor(engine)
    if not directory.is_dir():
        raise InputError(directory, "watched directory does not exist")
    # Absolute paths, so the manifest recognises files after a restart from another cwd.
    watcher = Watcher(settings, engine, directory.resolve(), info, settle)
    results: list[IngestResult] = []
    while not stop():
        for result in watcher.poll():
            results.append(result)
            if on_result is not None:
                on_result(result)
        time.sleep(interval)
    return results
