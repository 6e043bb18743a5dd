"""Day rollups: one date's flow-file partials merged once, so a window reads each key once.

A source active all day has a partial row per (source, key) in each of the day's flow files
(24 or more); merging them once per date leaves one row per key — on the detection benchmark,
51M partial rows of 25 files became 23M. A window that covers a whole date reads the date's
rollup instead of its files' partials (detect.partials decides; the files' partials stay
cached, the ground truth a rollup is rebuilt from).

A rollup is a directory ``rollups/date=D/<digest>/`` named after the keys of its member flow
files (path, size, modification time): a file added to the date, changed or removed makes
another digest, so a stale rollup is never read. When a date only gained files (the current
day, hour after hour), a few new files are read beside the previous rollup; past a few
(``partials._MAX_EXTRA``), a new rollup merges the previous one with the new files' partials.
Each kind is written pass by pass (consecutive source ranges, bounded memory) as a chain of
files read one after the other; ``members.json``, written last, says how many.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from iotnotice.detect.family import combine_tables
from iotnotice.detect.merge import KINDS
from iotnotice.detect.partfiles import PartialSet, readable, store
from iotnotice.detect.pipeline import map_ahead

__all__ = ["base", "build", "find", "prune"]

# Partial rows merged per pass of a rollup's build (see features._PASS_ROWS).
_PASS_ROWS = 1_000_000
_MEMBERS = "members.json"


def _digest(keys: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def _chains(folder: Path, passes: int) -> dict[str, list[Path]] | None:
    """The rollup's file chain per kind; None (and the folder removed) if a file is missing or
    damaged: it is rebuilt."""
    chains = {k: [folder / f"{k}.{i:05d}.arrow" for i in range(passes)] for k in KINDS}
    if all(readable(p) for chain in chains.values() for p in chain):
        return chains
    shutil.rmtree(folder, ignore_errors=True)
    return None


def _members(folder: Path) -> tuple[list[str], int] | None:
    try:
        meta = json.loads((folder / _MEMBERS).read_text())
        return [str(k) for k in meta["members"]], int(meta["passes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(root: Path, date: str, keys: list[str]) -> dict[str, list[Path]] | None:
    """The chains of the rollup of exactly these member flow files, if one is cached."""
    folder = root / f"date={date}" / _digest(keys)
    meta = _members(folder)
    if meta is None or sorted(meta[0]) != sorted(keys):
        return None
    return _chains(folder, meta[1])


def base(root: Path, date: str, keys: list[str]) -> tuple[dict[str, list[Path]], set[str]] | None:
    """The cached rollup of the date with the most members, all among ``keys`` (a day that
    gained files since): its chains and members."""
    best: tuple[dict[str, list[Path]], set[str]] | None = None
    wanted = set(keys)
    for folder in (root / f"date={date}").glob("*"):
        meta = _members(folder) if not folder.name.startswith(".") else None
        if meta is None or not set(meta[0]) <= wanted:
            continue
        if best is None or len(meta[0]) > len(best[1]):
            chains = _chains(folder, meta[1])
            if chains is not None:
                best = (chains, set(meta[0]))
    return best


def build(
    root: Path, date: str, keys: list[str], inputs: PartialSet, threads: int
) -> dict[str, list[Path]]:
    """Merge ``inputs`` (the partials of the member files ``keys``, or a previous rollup and
    the partials of the files added since) into the date's rollup; its chains."""
    final = root / f"date={date}" / _digest(keys)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def one(index: int, tables: dict[str, pa.Table]) -> None:
        merged = {k: combine_tables(k, [t]) for k, t in tables.items()}
        store(merged, {k: tmp / f"{k}.{index:05d}.arrow" for k in KINDS})

    passes = 0
    # A reader thread reads the next passes while a pool merges and writes earlier ones.
    numbered = enumerate(inputs.passes(_PASS_ROWS))
    for _ in map_ahead(lambda item: one(*item), numbered, threads):
        passes += 1
    (tmp / _MEMBERS).write_text(json.dumps({"members": sorted(keys), "passes": passes}))
    try:
        os.replace(tmp, final)  # atomic: readers see a whole rollup or none
    except OSError:  # a concurrent run published the same rollup first
        shutil.rmtree(tmp, ignore_errors=True)
    chains = find(root, date, keys)
    if chains is None:
        raise OSError(f"{final}: the rollup just written does not read back")
    return chains


def prune(root: Path, live: set[str]) -> None:
    """Remove rollups with a member flow file that is gone or changed (neither the date's
    rollup nor a base for the next), rollups an hour past being superseded by one of more
    members (a run that started before may still be reading them), and temporary folders of
    dead runs."""
    if not root.is_dir():
        return
    for day in root.glob("date=*"):
        kept: list[tuple[Path, set[str]]] = []
        for folder in day.iterdir():
            if folder.name.startswith("."):  # being written, or left by a run that died
                if _age(folder) > _GRACE:
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            meta = _members(folder)
            if meta is None or not set(meta[0]) <= live:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                kept.append((folder, set(meta[0])))
        for folder, members in kept:
            superseded = any(members < other for _, other in kept)
            if superseded and _age(folder) > _GRACE:
                shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            day.rmdir()  # (only if empty)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


# Seconds a superseded rollup or a temporary folder is left to the runs that may use it.
_GRACE = 3600
