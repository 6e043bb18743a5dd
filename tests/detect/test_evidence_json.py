"""evidence_json writes exactly the text json.dumps gives for each evidence record."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from iotnotice.detect.evidence import (
    COUNTERS,
    _join,
    _rounded_text,
    evidence_json,
    evidence_records,
)
from iotnotice.detect.features import SAMPLE_FIELDS, Features


def _features(n: int) -> Features:
    rng = np.random.default_rng(7)
    cols: dict[str, np.ndarray] = {name: rng.integers(0, 10**12, n) for name in COUNTERS}
    cols["ttl_mode"] = rng.integers(1, 256, n)
    cols["initial_ttl"] = rng.integers(32, 256, n)
    cols["hops"] = rng.integers(0, 64, n)
    cols["active_seconds"] = rng.integers(60, 10**7, n)
    cols["syn_noopt_share"] = rng.random(n)
    cols["scan_rate"] = rng.random(n) * 10.0 ** rng.integers(-3, 12, n)
    cols["scan_rate"][:3] = [np.nan, np.inf, -np.inf]
    cols["syn_noopt_share"][3] = 1e-7
    ports = ["23/tcp,2323/tcp", "", "80/tcp", 'x"\\ é/tcp']
    cols["top_ports"] = np.array([ports[i % 4] for i in range(n)], dtype=object)
    cols["mirai_ports"] = np.array([ports[(i + 1) % 4] for i in range(n)], dtype=object)
    for name in SAMPLE_FIELDS:  # stored types vary: uint16 ports, uint8 TTLs, int64 words
        cols[f"sample_{name}"] = rng.integers(0, 65536, n).astype(
            np.uint16 if "port" in name else np.int64
        )
    return Features(cols, 65536, 300)


def _reference(
    f: Features, rules: list[str], prefixes: list[Any], research: dict[int, dict[str, Any]]
) -> list[str]:
    extras = [
        {"routed_prefix": p, **({"research": research[i]} if i in research else {})}
        for i, p in enumerate(prefixes)
    ]
    return [json.dumps(r) for r in evidence_records(f, rules, extras)]


def test_evidence_json_equals_json_dumps_of_every_record() -> None:
    """Every record: special floats, escapes, samples, missing prefixes, research entries."""
    n = 200
    f = _features(n)
    rules = ["mirai-fingerprint", "default", "research-list", "some-new-rule"] * (n // 4)
    prefixes: list[Any] = [f"10.{i}.0.0/16" for i in range(n)]
    prefixes[5] = None
    prefixes[9] = "2001:db8::/32"
    prefixes[11] = 'odd "prefix" \\ é\n'
    research = {6: {"organisation": "Censys", "source": "é"}, 10: {"organisation": "X"}}
    got = evidence_json(f, rules, prefixes, research)
    assert got == _reference(f, rules, prefixes, research)
    assert json.loads(got[6])["research"]["source"] == "é"
    assert '"scan_rate_pps": NaN' in got[0]
    sample = json.loads(got[1])["sample"]
    assert list(sample) == list(SAMPLE_FIELDS)
    assert sample["dst_port"] == int(f["sample_dst_port"][1])
    assert '"routed_prefix": null}' in got[5]


def test_evidence_json_of_no_sources() -> None:
    f = Features({"packets": np.zeros(0, dtype=np.int64)}, 1, 300)
    assert evidence_json(f, [], []) == []


@pytest.mark.parametrize("digits", [1, 4])
def test_rounded_text_is_json_dumps_of_round(digits: int) -> None:
    """Ties (exact and a few ulps away), -0.0, huge, tiny and non-finite values, at random."""
    rng = np.random.default_rng(11)
    k = rng.integers(0, 10**6, 2000)
    ties = (k + 0.5) / 10**digits
    values = np.concatenate(
        [
            ties,
            np.nextafter(ties, 0),
            np.nextafter(ties, 1e300),
            k / 10**digits,
            rng.random(2000),
            rng.random(2000) * 10.0 ** rng.integers(-8, 20, 2000),
            [0.0, -0.0, -1.25, 0.00005, 0.25, 0.35, 2.675, 0.125, 9.99995, 0.99995, 1e-7],
            [1e14, 1e15 - 0.25, 1e15, 1e16, 1e20, 1e300, np.nan, np.inf, -np.inf],
        ]
    )
    got = _rounded_text(values, digits).to_pylist()
    assert got == [json.dumps(round(float(x), digits)) for x in values]


def test_join_writes_integers_and_text_as_python_would() -> None:
    """The joining kernel: signed integers in decimal, text columns as they are (nulls empty)."""
    ints = np.array([0, -1, 9, 10, -(2**63) + 1, 2**63 - 1, 1234567890], dtype=np.int64)
    words = pa.array(["", None, "é", 'a"b\\', "x" * 300, "0", "ü"], pa.string())
    backwards = ints[::-1].copy()
    got = _join(["<", ints, "|", words, ">", backwards], len(ints)).to_pylist()
    rows = zip(ints.tolist(), backwards.tolist(), words.to_pylist(), strict=True)
    assert got == [f"<{a}|{w or ''}>{b}" for a, b, w in rows]
    assert _join(["x", np.arange(3)], 3).to_pylist() == ["x0", "x1", "x2"]
