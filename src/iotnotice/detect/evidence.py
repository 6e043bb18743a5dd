"""Evidence records: why a source got its class, in JSON a reviewer can read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from iotnotice.detect.features import SAMPLE_FIELDS, Features

__all__ = ["COUNTERS", "evidence_json", "evidence_records", "source_port", "summary_line"]

COUNTERS = (
    "packets",
    "flow_rows",
    "destinations",
    "dst_ports",
    "syn_pkts",
    "syn_noopt",
    "resp_pkts",
    "synack_pkts",
    "rst_pkts",
    "icmp_err_pkts",
    "dns_resp_pkts",
    "tcp_pkts",
    "udp_pkts",
    "icmp_pkts",
    "mirai_cnt",
    "mirai_dsts",
    "masscan_cnt",
    "zmap_cnt",
    "spoofed_cnt",
    "quirk_cnt",
    "iot_syn",
    "iot_dsts",
    "resp_window_max",
)

_REASONS = {
    "research-list": "source is in the research-network list",
    "spoofed": "source address looks spoofed (corsaro heuristics or reserved space)",
    "backscatter": "mostly responses (SYN-ACK/RST/ICMP/DNS): victim of a spoofed flood",
    "mirai-fingerprint": "SYNs with TCP sequence number == destination address (Mirai)",
    "tool-fingerprint": "packets carry a scanning tool's fingerprint",
    "iot-headers": "SYNs to IoT ports without TCP options, initial TTL 64, no tool fingerprint",
    "high-fanout": "many darknet destinations without IoT-bot traits",
    "default": "no rule matched",
}


def evidence_records(
    f: Features,
    rules: Sequence[str],
    extras: Sequence[dict[str, Any]],
    rows: Sequence[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Evidence records of ``rows`` (default: every source), one rule and extra dict each.

    Columns become Python lists once (numpy scalar access per field and host cost more than
    the rest of the record with 200k hosts).
    """
    cols = f.columns
    pick = np.arange(len(f)) if rows is None else np.asarray(rows, dtype=np.int64)
    counts = [cols[name][pick].astype(np.int64).tolist() for name in COUNTERS]
    ttl_mode = cols["ttl_mode"][pick].astype(np.int64).tolist()
    initial = cols["initial_ttl"][pick].astype(np.int64).tolist()
    hops = cols["hops"][pick].astype(np.int64).tolist()
    # Python's round(), not numpy's: the same digits as one record at a time always gave.
    share = [round(x, 4) for x in cols["syn_noopt_share"][pick].astype(np.float64).tolist()]
    active = cols["active_seconds"][pick].astype(np.int64).tolist()
    rate = [round(x, 1) for x in cols["scan_rate"][pick].astype(np.float64).tolist()]
    top, mirai = cols["top_ports"][pick], cols["mirai_ports"][pick]
    sample = [cols[f"sample_{name}"][pick].astype(np.int64).tolist() for name in SAMPLE_FIELDS]
    for k, (rule, extra) in enumerate(zip(rules, extras, strict=True)):
        yield {
            "rule": rule,
            "reason": _REASONS.get(rule, rule),
            "counts": dict(zip(COUNTERS, [c[k] for c in counts], strict=True)),
            "ttl": {"mode": ttl_mode[k], "initial": initial[k], "hops": hops[k]},
            "syn_without_options_share": share[k],
            "top_ports": top[k],
            "mirai_ports": mirai[k],
            "active_seconds": active[k],
            "scan_rate_pps": rate[k],
            "monitored_addresses": f.monitored_addresses,
            "sample": dict(zip(SAMPLE_FIELDS, [c[k] for c in sample], strict=True)),
            **extra,
        }


# Strings json.dumps writes as they are, between quotes: printable ASCII without '"' and '\'.
_PLAIN = r"^[ !#-\[\]-~]*$"


def _fallback(out: pa.Array, slow: np.ndarray, encode: Callable[[int], str]) -> pa.Array:
    """``out`` with the rows of ``slow`` replaced by ``encode(row)``."""
    rows = np.flatnonzero(slow)
    if len(rows) == 0:
        return out
    text = out.to_pylist()
    for i in rows.tolist():
        text[i] = encode(i)
    return pa.array(text, pa.string())


def _string_text(values: Sequence[Any]) -> pa.Array:
    """``json.dumps`` of each value (strings and None), column-wise for plain ASCII text."""
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([json.dumps(v) for v in values], pa.string())
    plain = pc.match_substring_regex(arr, _PLAIN)
    quoted = pc.fill_null(pc.binary_join_element_wise('"', arr, '"', ""), "null")
    slow = pc.invert(pc.fill_null(plain, True)).to_numpy(zero_copy_only=False)
    return _fallback(quoted, slow, lambda i: json.dumps(values[i]))


def _ints(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64, copy=False)


@njit(cache=True, nogil=True)
def _digits(v: np.int64) -> int:
    """Characters of ``v`` in decimal (with its sign)."""
    n = 1 if v >= 0 else 2
    u = abs(v)
    while u >= 10:
        u //= 10
        n += 1
    return n


@njit(cache=True, nogil=True)
def _join_rows(
    kinds: np.ndarray,
    refs: np.ndarray,
    literals: np.ndarray,
    literal_at: np.ndarray,
    ints: np.ndarray,
    text: np.ndarray,
    text_at: np.ndarray,
    rows: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's parts joined: part k is literal ``refs[k]`` (kind 0), row i of integer
    column ``refs[k]`` written in decimal (1) or of text column ``refs[k]`` (2); the text
    columns are one buffer, column c's row i at ``text_at[c * rows + i]``. (offsets, bytes)."""
    offsets = np.zeros(rows + 1, dtype=np.int64)
    for i in range(rows):
        size = 0
        for k in range(len(kinds)):
            r = refs[k]
            if kinds[k] == 0:
                size += literal_at[r + 1] - literal_at[r]
            elif kinds[k] == 1:
                size += _digits(ints[r, i])
            else:
                size += text_at[r * rows + i + 1] - text_at[r * rows + i]
        offsets[i + 1] = offsets[i] + size
    out = np.empty(offsets[rows], dtype=np.uint8)
    for i in range(rows):
        p = offsets[i]
        for k in range(len(kinds)):
            r = refs[k]
            if kinds[k] == 0:
                a, b = literal_at[r], literal_at[r + 1]
                out[p : p + b - a] = literals[a:b]
                p += b - a
            elif kinds[k] == 1:
                v = ints[r, i]
                if v < 0:
                    out[p] = 45  # '-'
                    p += 1
                    v = -v
                end = p + _digits(v)
                q = end
                while True:
                    q -= 1
                    out[q] = 48 + v % 10
                    v //= 10
                    if v == 0:
                        break
                p = end
            else:
                a, b = text_at[r * rows + i], text_at[r * rows + i + 1]
                out[p : p + b - a] = text[a:b]
                p += b - a
    return offsets, out


def _join(parts: Sequence[str | np.ndarray | pa.Array], rows: int) -> pa.Array:
    """Per row, the concatenation of ``parts``: literals, integer columns (numpy, written in
    decimal) and string columns (Arrow, nulls as empty)."""
    kinds: list[int] = []
    refs: list[int] = []
    literals: list[bytes] = []
    ints: list[np.ndarray] = []
    texts: list[pa.Array] = []
    for part in parts:
        if isinstance(part, str):
            kinds.append(0)
            refs.append(len(literals))
            literals.append(part.encode())
        elif isinstance(part, np.ndarray):
            kinds.append(1)
            refs.append(len(ints))
            ints.append(part)
        else:
            kinds.append(2)
            refs.append(len(texts))
            texts.append(pc.fill_null(part, "").cast(pa.large_string()))
    literal_at = np.cumsum([0, *map(len, literals)], dtype=np.int64)
    literal_data = np.frombuffer(b"".join(literals), dtype=np.uint8)
    if texts:
        joined = pa.concat_arrays(texts)
        text_at = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
            joined.offset : joined.offset + len(joined) + 1
        ]
        data = joined.buffers()[2]
        text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    else:
        text_at, text = np.zeros(rows + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    matrix = np.stack(ints) if ints else np.zeros((0, rows), dtype=np.int64)
    offsets, out = _join_rows(
        np.asarray(kinds, dtype=np.int64), np.asarray(refs, dtype=np.int64),
        literal_data, literal_at, matrix, text, text_at, rows,
    )  # fmt: skip
    return pa.Array.from_buffers(
        pa.large_string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(out)]
    )


def _rounded_text(values: np.ndarray, digits: int) -> pa.Array:
    """``json.dumps(round(x, digits))`` of each value, column-wise where that is exact.

    For 0 <= x * 10**digits < 10**15 away from a rounding tie, the correctly rounded decimal
    k / 10**digits has at most 15 significant digits, so it is also repr() of the float
    round() returns; it is written from the integer k. Ties (within a few ulps), negative,
    huge and non-finite values go through round() and repr() themselves.
    """
    x = np.asarray(values, dtype=np.float64)
    scale = 10**digits
    with np.errstate(invalid="ignore", over="ignore"):
        y = x * scale
        tie = np.abs(y - np.floor(y) - 0.5) <= 8 * np.spacing(np.maximum(y, 1.0))
        fast = np.isfinite(y) & (y >= 0) & ~np.signbit(x) & (y < 1e15) & ~tie
    k = np.rint(np.where(fast, y, 0.0)).astype(np.int64)
    fraction = pc.utf8_lpad(pa.array(k % scale).cast(pa.string()), digits, "0")
    fraction = pc.utf8_rtrim(fraction, "0")
    fraction = pc.if_else(pc.equal(pc.utf8_length(fraction), 0), "0", fraction)
    out = pc.binary_join_element_wise(pa.array(k // scale).cast(pa.string()), fraction, ".")
    return _fallback(out, ~fast, lambda i: json.dumps(round(float(x[i]), digits)))


def evidence_json(
    f: Features,
    rules: Sequence[str],
    routed_prefix: Sequence[str | None],
    research: Mapping[int, dict[str, Any]] | None = None,
) -> list[str]:
    """``json.dumps`` text of every source's evidence record, built column by column.

    The same text as ``json.dumps(r)`` for each ``r`` of ``evidence_records(f, rules,
    extras)`` with ``extras[i] = {"routed_prefix": routed_prefix[i]}`` plus
    ``{"research": research[i]}`` for the rows in ``research``: the columns are formatted and
    joined in Arrow, values json.dumps would write differently (escapes, non-ASCII, float
    ties, NaN) by json.dumps itself; integers are written and everything joined by a numba
    kernel (Arrow's cast and join of ~60 parts cost twice as much).
    """
    if len(f) == 0:
        return []
    cols = f.columns
    rule_codes = pc.dictionary_encode(pa.array(list(rules), pa.string()))
    rule_names = rule_codes.dictionary.to_pylist()
    indices = rule_codes.indices

    def by_rule(encode: Callable[[str], str]) -> pa.Array:
        return pc.take(pa.array([encode(r) for r in rule_names], pa.string()), indices)

    sample: list[Any] = []
    for i, name in enumerate(SAMPLE_FIELDS):
        sample += [("{" if i == 0 else ", ") + f'"{name}": ', _ints(cols[f"sample_{name}"])]
    counts: list[Any] = []
    for i, name in enumerate(COUNTERS):
        counts += [(', "counts": {' if i == 0 else ", ") + f'"{name}": ', _ints(cols[name])]
    tail = [""] * len(f)
    for row, entry in (research or {}).items():
        tail[row] = ', "research": ' + json.dumps(entry)
    parts: list[Any] = [
        '{"rule": ',
        by_rule(json.dumps),
        ', "reason": ',
        by_rule(lambda rule: json.dumps(_REASONS.get(rule, rule))),
        *counts,
        '}, "ttl": {"mode": ',
        _ints(cols["ttl_mode"]),
        ', "initial": ',
        _ints(cols["initial_ttl"]),
        ', "hops": ',
        _ints(cols["hops"]),
        '}, "syn_without_options_share": ',
        _rounded_text(cols["syn_noopt_share"], 4),
        ', "top_ports": ',
        _string_text(cols["top_ports"].tolist()),
        ', "mirai_ports": ',
        _string_text(cols["mirai_ports"].tolist()),
        ', "active_seconds": ',
        _ints(cols["active_seconds"]),
        ', "scan_rate_pps": ',
        _rounded_text(cols["scan_rate"], 1),
        f', "monitored_addresses": {json.dumps(f.monitored_addresses)}, "sample": ',
        *sample,
        "}",
        ', "routed_prefix": ',
        _string_text(list(routed_prefix)),
        pa.array(tail, pa.string()),
    ]
    out: list[str] = _join([*parts, "}"], len(f)).to_pylist()
    return out


def summary_line(evidence: dict[str, Any]) -> str:
    """One line for tables: rule and the counts that made it fire."""
    c = evidence.get("counts", {})
    rule = evidence.get("rule", "?")
    if rule == "mirai-fingerprint":
        return f"{rule}: {c.get('mirai_cnt')} Mirai SYNs to {c.get('mirai_dsts')} addresses"
    if rule == "iot-headers":
        return f"{rule}: {c.get('iot_syn')} IoT-port SYNs to {c.get('iot_dsts')} addresses"
    if rule == "backscatter":
        return f"{rule}: {c.get('resp_pkts')} responses, max {c.get('resp_window_max')}/interval"
    if rule == "research-list":
        return f"{rule}: {evidence.get('research', {}).get('organisation', '')}"
    return f"{rule}: {c.get('packets')} packets to {c.get('destinations')} addresses"


def source_port(evidence: Mapping[str, Any] | None) -> int | None:
    """The source port a notice reports: the evidence's own ``src_port`` (hand-made or
    honeypot evidence), else its header sample's. Mirai keeps one source port per bot
    process; behind CGNAT it is what lets the ISP find the subscriber."""
    evidence = evidence or {}
    sample = evidence.get("sample")
    value = evidence.get("src_port")
    if value is None and isinstance(sample, Mapping):
        value = sample.get("src_port")
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536
    return value if valid else None
