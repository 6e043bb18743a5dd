"""Detection partials: built once per flow file, reused, rebuilt when the file or settings
change, never cached for an hour the window cuts — and features always equal a fresh merge."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flowstore import DARKNET, T0, flow, syns, write_store

from iotnotice.detect import features, partfiles, partials, rollups
from iotnotice.detect.features import Features, compute_features, parse_ports
from iotnotice.detect.partials import partials_for_window
from iotnotice.errors import InputError
from iotnotice.schemas import FLOW_TUPLE, arrow_schema
from iotnotice.settings import Settings, load_settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(environ=env, data_dir=str(tmp_path / "data"))


def _features(settings: Settings, since: int | None = None, until: int | None = None) -> Features:
    return compute_features(settings, 256, since, until)


def _build(settings: Settings, since: int | None = None, until: int | None = None) -> int:
    """How many partial sets one window's call had to compute for whole hours."""
    return partials_for_window(settings, parse_ports(settings.iot_ports), since, until).computed


def _cached(settings: Settings) -> list[Path]:
    """The flow files' cached partials (not the day rollups)."""
    return sorted((settings.data_path / "detect-partials").glob("*/sensor=*/*/*/*.arrow"))


def _rows() -> list[dict[str, object]]:
    # Three hours: a Mirai bot throughout, a scanner in hour 1, backscatter in hour 2.
    rows = syns("198.51.100.7", 90, ports=(23, 2323), mirai_cnt=1, tcp_synlen=20, step=120)
    rows += syns("192.0.2.9", 40, ports=(80, 443, 8080), start=T0 + 3600, step=60)
    rows += [
        flow(src_ip="192.0.2.77", dst_ip=DARKNET + 3, tcp_flags=18, src_port=443, time=T0 + 7200)
        for _ in range(3)
    ]
    return rows


def test_partials_are_built_once_and_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _rows())
    assert _build(settings) == 3  # one per hour file
    first = _cached(settings)
    assert len(first) == 3 * 4
    assert _build(settings) == 0
    assert _cached(settings) == first
    feats = _features(settings)
    assert list(feats["packets"]) == [40, 3, 90]  # ordered by address
    assert list(feats["mirai_cnt"]) == [0, 0, 90]
    assert feats["top_ports"][0] == "80/tcp,443/tcp,8080/tcp"


def test_a_changed_flow_file_gets_new_partials(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _rows())
    before = _features(settings)
    path = next(settings.flows_path.glob("sensor=*/date=*/hour=01/*.parquet"))
    # Re-ingest of the same file name with other content (as a re-run after a crash does).
    extra = [flow(src_ip="192.0.2.9", dst_ip=DARKNET + i, time=T0 + 3600) for i in range(5)]
    table = pq.read_table(path).cast(arrow_schema(FLOW_TUPLE))
    table = pa.concat_tables([table, pa.Table.from_pylist(extra, schema=table.schema)])
    pq.write_table(table, path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert _build(settings) == 1
    after = _features(settings)
    i = int(np.flatnonzero(after["src_ip"] == before["src_ip"][0])[0])
    assert after["packets"][i] == before["packets"][0] + 5
    assert len(_cached(settings)) == 3 * 4  # the stale partials are gone


def test_a_removed_flow_file_leaves_the_features(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _rows())
    assert len(_features(settings)) == 3
    next(settings.flows_path.glob("sensor=*/date=*/hour=02/*.parquet")).unlink()
    feats = _features(settings)
    assert len(feats) == 2 and 3 not in list(feats["packets"])
    assert len(_cached(settings)) == 2 * 4


def test_a_window_that_cuts_an_hour_counts_only_its_rows(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rows = _rows()
    write_store(settings.flows_path, rows)
    since, until = T0 + 1800, T0 + 3600 + 1200
    feats = _features(settings, since, until)
    bot = int(np.flatnonzero(feats["mirai_cnt"] > 0)[0])
    expected = sum(1 for r in rows if r["mirai_cnt"] and since <= r["time"] < until)  # type: ignore[operator]
    assert feats["packets"][bot] == expected
    scanner = int(np.flatnonzero(feats["dst_ports"] == 3)[0])
    assert feats["packets"][scanner] == 20 and feats["first_seen"][scanner] == T0 + 3600
    assert len(feats) == 2  # the backscatter of hour 2 is outside
    # Hours the window cuts are computed for the call only: nothing of them is cached.
    assert list((settings.data_path / "detect-partials").rglob("*.arrow")) == []
    assert not list((settings.data_path / "tmp").glob("detect-*"))


def test_changing_the_iot_ports_rebuilds_the_partials(tmp_path: Path) -> None:
    rows = syns("198.51.100.8", 30, ports=(9999,), tcp_synlen=20, ttl=60)
    settings = _settings(tmp_path)
    write_store(settings.flows_path, rows)
    assert list(_features(settings)["iot_syn"]) == [0]
    wider = _settings(tmp_path, IOTNOTICE_IOT_PORTS="23,9999")
    assert list(_features(wider)["iot_syn"]) == [30]
    # Only the current settings' cache is kept.
    assert len({p.relative_to(wider.data_path).parts[1] for p in _cached(wider)}) == 1


def test_an_empty_store_and_an_empty_window_give_no_sources(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert len(_features(settings)) == 0
    write_store(settings.flows_path, _rows())
    assert len(_features(settings, T0 + 86400, T0 + 2 * 86400)) == 0


def test_merging_in_source_range_passes_gives_the_same_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window too large for one pass is merged range by range (bounded memory): same result."""
    settings = _settings(tmp_path)
    rows = _rows()
    rows += [flow(src_ip6=bytes(15) + bytes([k]), dst_ip6=bytes(16), time=T0) for k in (1, 2)]
    rows += [flow(src_ip=f"10.{k}.0.1", dst_ip=DARKNET + k, time=T0 + k) for k in range(60)]
    write_store(settings.flows_path, rows)
    whole = _features(settings)
    # Fine row groups (their statistics place the cuts) and tiny passes.
    shutil.rmtree(settings.data_path / "detect-partials")
    monkeypatch.setattr(partfiles, "_GROUP", 4)
    monkeypatch.setattr(features, "_PASS_ROWS", 10)
    parts = partials_for_window(settings, parse_ports(settings.iot_ports), None, None)
    assert len(parts.ranges(10)) > 3
    split = _features(settings)
    # A window of more files than may stay open reads each batch with its own open.
    monkeypatch.setattr(partfiles, "_MAX_OPEN", 0)
    reopened = _features(settings)
    assert len(split) == len(whole) == len(reopened) == 65
    assert list(map(str, reopened["top_ports"])) == list(map(str, whole["top_ports"]))
    assert [x for x in split["src_ip6"] if x is not None] == [
        bytes(15) + b"\x01",
        bytes(15) + b"\x02",
    ]
    for name, want in whole.columns.items():
        got = split[name]
        assert list(map(str, got)) == list(map(str, want)), name


def test_building_a_file_batch_by_batch_gives_the_same_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow file is built in batches (bounded memory) and the batch partials merged."""
    rows = _rows()
    rows += [flow(src_ip6=bytes(15) + bytes([k % 3]), dst_ip6=bytes([k]) * 16) for k in range(9)]
    one = _settings(tmp_path / "one")
    write_store(one.flows_path, rows)
    batched = _settings(tmp_path / "batched")
    write_store(batched.flows_path, rows)
    whole = _features(one)
    monkeypatch.setattr(partials, "_BATCH", 7)
    split = _features(batched)
    assert len(split) == len(whole) == 6
    for name, want in whole.columns.items():
        assert list(map(str, split[name])) == list(map(str, want)), name
    # Merged per file: one partial row per (source, signature), however many batches.
    path = next(batched.data_path.glob("detect-partials/*/*/*/hour=00/*.sig.arrow"))
    sig = pa.ipc.open_file(str(path)).read_all()
    assert sig.num_rows == len({(r["src_ip"], r["src_ip6"]) for r in rows if r["time"] < T0 + 3600})


def test_counters_too_large_for_the_narrow_stored_type_stay_exact(tmp_path: Path) -> None:
    """Partials store counters as uint32 where they fit; a larger sum is kept wide."""
    settings = _settings(tmp_path)
    big = 3_000_000_000  # two flow rows of 3e9 packets: 6e9 in one partial row > 2**32
    rows = [flow(src_ip="192.0.2.5", dst_ip=DARKNET + k, packet_cnt=big, time=T0) for k in (1, 2)]
    write_store(settings.flows_path, rows)
    assert _build(settings) == 1
    feats = _features(settings)
    assert list(feats["packets"]) == [2 * big]
    assert list(feats["syn_pkts"]) == [2 * big]


def test_a_damaged_cached_partial_is_rebuilt(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _rows())
    before = _features(settings)
    victim = _cached(settings)[0]
    victim.write_bytes(victim.read_bytes()[:40])  # truncated, as by a full disk
    assert _build(settings) == 1
    after = _features(settings)
    for name, want in before.columns.items():
        assert list(map(str, after[name])) == list(map(str, want)), name


def test_a_damaged_flow_file_is_named_in_one_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _rows())
    path = next(settings.flows_path.glob("sensor=*/date=*/hour=01/*.parquet"))
    path.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(InputError) as caught:
        _features(settings)
    assert str(path) in str(caught.value) and "cannot read this flow file" in str(caught.value)


# Day rollups (detect.rollups): a window covering a whole date reads the date's merged partials.


def _rollups(settings: Settings) -> list[Path]:
    root = settings.data_path / "detect-partials"
    return sorted(p for p in root.glob("*/rollups/date=*/*") if not p.name.startswith("."))


def _without_rollups(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Features:
    with monkeypatch.context() as m:
        m.setattr(partials, "_whole_days", lambda *_: {})
        return _features(settings)


def _same(got: Features, want: Features) -> None:
    assert len(got) == len(want)
    for name, column in want.columns.items():
        assert list(map(str, got[name])) == list(map(str, column)), name


def _day_rows() -> list[dict[str, object]]:
    rows = _rows()
    rows += [flow(src_ip6=bytes(15) + bytes([k % 3]), dst_ip6=bytes([k]) * 16, time=T0 + k * 3600)
             for k in range(6)]  # fmt: skip
    rows += [flow(src_ip=f"10.{k % 7}.0.1", dst_ip=DARKNET + k, dst_port=k,
                  time=T0 + (k % 5) * 3600) for k in range(70)]  # fmt: skip
    return rows


def test_a_whole_date_is_read_from_its_rollup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _day_rows())
    plain = _without_rollups(settings, monkeypatch)
    parts = partials_for_window(settings, parse_ports(settings.iot_ports), None, None)
    assert parts.rolled_up == parts.flow_files == 6  # hours 0-5 of one date
    assert all(len(chains) == 1 for chains in parts.files.values())  # the rollup alone
    (rollup,) = _rollups(settings)
    stamp = rollup.stat().st_mtime_ns
    _same(_features(settings), plain)
    assert _rollups(settings) == [rollup] and rollup.stat().st_mtime_ns == stamp  # reused
    # One row per key: the merged Mirai bot's 90 SYNs over three hours are one sig row.
    sig = pa.concat_tables(pa.ipc.open_file(str(p)).read_all() for p in rollup.glob("sig.*"))
    assert sig.num_rows == len({(r["src_ip"], r["src_ip6"]) for r in _day_rows()})
    # A window that cuts the date reads the files' partials, not the rollup.
    cut = partials_for_window(settings, parse_ports(settings.iot_ports), T0 + 3600, None)
    assert cut.rolled_up == 0


def test_a_date_that_gains_files_reads_them_beside_its_rollup_then_rolls_up_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    rows = _day_rows()
    write_store(settings.flows_path, [r for r in rows if r["time"] < T0 + 5 * 3600])  # type: ignore[operator]
    _features(settings)
    (old,) = _rollups(settings)
    write_store(settings.flows_path, [r for r in rows if r["time"] >= T0 + 5 * 3600])  # type: ignore[operator]
    built: list[int] = []
    real = rollups.build

    def spy(root: Path, date: str, keys: list[str], inputs: partfiles.PartialSet, t: int) -> dict:
        built.append(len(inputs.files["sig"]))
        return real(root, date, keys, inputs, t)

    monkeypatch.setattr(rollups, "build", spy)
    plain = _without_rollups(settings, monkeypatch)
    # An hourly run on the current day: the new file's partials are read beside the rollup.
    parts = partials_for_window(settings, parse_ports(settings.iot_ports), None, None)
    assert (parts.rolled_up, parts.flow_files, len(parts.files["sig"])) == (5, 6, 2)
    _same(_features(settings), plain)
    assert built == [] and _rollups(settings) == [old]
    # Past _MAX_EXTRA added files, a new rollup merges the old one and the added files.
    monkeypatch.setattr(partials, "_MAX_EXTRA", 0)
    _same(_features(settings), plain)
    assert built == [2]  # the old rollup and the new hour's partials, not six files
    new = next(p for p in _rollups(settings) if p != old)
    # The superseded rollup is left an hour to runs that may still read it, then removed.
    _features(settings)
    assert _rollups(settings) == sorted([old, new])
    os.utime(old, (old.stat().st_atime - 7200, old.stat().st_mtime - 7200))
    _features(settings)
    assert _rollups(settings) == [new]


def test_a_removed_or_damaged_member_makes_the_rollup_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _day_rows())
    _features(settings)
    (first,) = _rollups(settings)
    next(settings.flows_path.glob("sensor=*/date=*/hour=02/*.parquet")).unlink()
    _same(_features(settings), _without_rollups(settings, monkeypatch))
    (second,) = _rollups(settings)
    assert second != first and not first.exists()
    victim = next(second.glob("ports.*.arrow"))
    victim.write_bytes(victim.read_bytes()[:30])  # truncated, as by a full disk
    _same(_features(settings), _without_rollups(settings, monkeypatch))
    assert _rollups(settings) == [second] and pa.ipc.open_file(str(victim)).num_record_batches


def test_a_rollup_built_in_many_passes_gives_the_same_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    write_store(settings.flows_path, _day_rows())
    plain = _without_rollups(settings, monkeypatch)
    monkeypatch.setattr(partfiles, "_GROUP", 4)
    monkeypatch.setattr(rollups, "_PASS_ROWS", 10)
    shutil.rmtree(settings.data_path / "detect-partials")
    _same(_features(settings), plain)
    (rollup,) = _rollups(settings)
    assert len(list(rollup.glob("dsts.*.arrow"))) > 3
    monkeypatch.setattr(features, "_PASS_ROWS", 10)  # and read back in many passes
    _same(_features(settings), plain)
