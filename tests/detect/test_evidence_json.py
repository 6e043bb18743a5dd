"""evidence_json writes exactly the text json.dumps gives for each evidence record."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from iotnotice.detect.evidence import COUNTERS, evidence_json, evidence_records
from iotnotice.detect.features import Features


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
    sample = {"dst_port": np.uint16(23), "protocol": 6, "ttl": np.int64(42)}
    cols["sample"] = np.array([None if i % 5 == 0 else sample for i in range(n)], dtype=object)
    return Features(cols, 65536, 300)


def test_evidence_json_equals_json_dumps_of_every_record() -> None:
    """Every record, special floats, escapes, samples, empty/research/overriding extras."""
    n = 200
    f = _features(n)
    rules = ["mirai-fingerprint", "default", "research-list", "some-new-rule"] * (n // 4)
    extras: list[dict[str, Any]] = [{"routed_prefix": f"10.{i}.0.0/16"} for i in range(n)]
    extras[5] = {}
    extras[6] = {"routed_prefix": None, "research": {"organisation": "Censys", "source": "é"}}
    extras[7] = {"routed_prefix": "1.0.0.0/8", "rule": "overridden"}
    want = [json.dumps(r) for r in evidence_records(f, rules, extras)]
    got = evidence_json(f, rules, extras)
    assert got == want
    assert json.loads(got[7])["rule"] == "overridden"
    assert '"scan_rate_pps": NaN' in got[0] and '"sample": {}' in got[0]


def test_evidence_json_with_uneven_samples() -> None:
    """Samples with differing keys, non-integer values or none at all take the slow path."""
    n = 8
    f = _features(n)
    f.columns["sample"] = np.array(
        [{"a": 1}, {"b": 2, "a": 3}, None, {"t": True}, {"x": 1.5}, {}, {"a": None}, {"a": 2}],
        dtype=object,
    )
    rules = ["default"] * n
    extras: list[dict[str, Any]] = [{"routed_prefix": "192.0.2.0/24"}] * n
    assert evidence_json(f, rules, extras) == [
        json.dumps(r) for r in evidence_records(f, rules, extras)
    ]
    f.columns["sample"] = np.array([None] * n, dtype=object)
    assert evidence_json(f, rules, extras) == [
        json.dumps(r) for r in evidence_records(f, rules, extras)
    ]
