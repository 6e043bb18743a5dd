"""FreeRADIUS accounting ``detail`` files -> accounting records -> sessions (address intervals).

A detail file is a sequence of records separated by blank lines; each starts with a header line
(``Wed Nov 25 10:00:00 2026``) followed by tab-indented ``Attribute = value`` lines. The file
becomes one Arrow array of lines; RE2 and prefix kernels classify every line in C++, records are
numbered by a cumulative sum over header lines, so no Python code runs per line.

Sessions are rebuilt from the records of *all* loaded files (a Start and its Stop often sit in
different rotated files): a session runs from its Start to its Stop; without a Stop it ends at the
next Start on the same address or ``timeout`` seconds after its last record, whichever is first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.errors import InputError
from iotnotice.isp.logs._columns import (
    END_OF_TIME,
    INTERVAL_SCHEMA,
    address_intervals,
    ipv4_to_u32,
    per_group,
    read_lines,
)

__all__ = ["RECORD_SCHEMA", "STATUS", "parse_radius_detail", "radius_sessions"]

STATUS = {"Start": 1, "Stop": 2, "Interim-Update": 3, "Alive": 3}

RECORD_SCHEMA = pa.schema(
    [
        pa.field("ip", pa.uint32()),
        pa.field("t", pa.int64()),
        pa.field("status", pa.int8()),
        pa.field("session", pa.string()),
        pa.field("user", pa.string()),
        pa.field("mac", pa.string()),
    ]
)

_HEADER = r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \d{4}\s*$"
_ATTRIBUTE = r"^[ \t]+[\w:.-]+ = "
_TZ = {"UTC": 0, "GMT": 0, "Z": 0, "JST": 9 * 3600, "KST": 9 * 3600}


def _event_times(values: pa.Array, path: Path) -> np.ndarray:
    """``"Nov 25 2026 10:00:00 UTC"`` or epoch seconds -> int64 (END_OF_TIME where absent)."""
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(values, r"\s+", " "))
    digits = pc.match_substring_regex(text, r"^\d+$").to_numpy(zero_copy_only=False)
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    parts = pc.extract_regex(
        text, r"^(?P<when>[A-Z][a-z]{2} \d{1,2} \d{4} \d\d:\d\d:\d\d)(?: (?P<tz>\S+))?$"
    )
    named = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    bad = ~(digits | empty | named)
    if bad.any():
        raise InputError(path, f"Event-Timestamp {values[int(np.argmax(bad))].as_py()!r}")
    when = pc.fill_null(pc.struct_field(parts, "when"), "Jan 1 1970 00:00:00")
    tz = pc.fill_null(pc.struct_field(parts, "tz"), "UTC")
    zones = pc.dictionary_encode(tz)
    unknown = set(zones.dictionary.to_pylist()) - set(_TZ)
    if unknown and named.any():
        raise InputError(path, f"Event-Timestamp time zone {sorted(unknown)[0]!r} is not known")
    stamps = pc.strptime(when, format="%b %d %Y %H:%M:%S", unit="s")
    local = pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False)
    shift = np.array([_TZ.get(z, 0) for z in zones.dictionary.to_pylist()], np.int64)
    offset = shift[zones.indices.to_numpy(zero_copy_only=False)]
    nums = pc.cast(pc.if_else(pa.array(digits), text, "0"), pa.int64()).to_numpy(
        zero_copy_only=False
    )
    out = np.where(digits, nums, local - offset)
    return np.where(empty, END_OF_TIME, out)


def _check(lines: pa.Array, path: Path) -> np.ndarray:
    """Which lines start a record; raise naming the first line that fits no record shape."""
    tab = pc.starts_with(lines, "\t").to_numpy(zero_copy_only=False)
    ok = tab & pc.match_substring(lines, " = ").to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~tab)  # headers and blank lines: few, so regexes only on them
    rest = lines.take(pa.array(other))
    header = pc.match_substring_regex(rest, _HEADER).to_numpy(zero_copy_only=False)
    blank = pc.match_substring_regex(rest, r"^\s*$").to_numpy(zero_copy_only=False)
    ok[other] = header | blank
    if not ok.all():
        line = int(np.argmin(ok)) + 1
        raise InputError(path, f"line {line}: not a FreeRADIUS detail record line")
    starts = np.zeros(len(lines), dtype=bool)
    starts[other[header]] = True
    filled = np.ones(len(lines), dtype=bool)
    filled[other[blank]] = False
    first = int(np.argmax(filled)) if filled.any() else 0
    if filled.any() and not starts[first]:
        raise InputError(path, f"line {first + 1}: a record must start with a date line")
    return starts


def parse_radius_detail(path: Path) -> pa.Table:
    """Accounting records of one detail file (columns of :data:`RECORD_SCHEMA`)."""
    lines = read_lines(path)
    starts = _check(lines, path)
    rec = np.cumsum(starts) - 1
    n = int(rec[-1]) + 1 if len(rec) else 0
    if n == 0:
        return RECORD_SCHEMA.empty_table()

    def attr(name: str) -> pa.Array:
        prefix = f"\t{name} = "
        mask = pc.starts_with(lines, prefix)
        values = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(lines.filter(mask), len(prefix)))
        picked = per_group(values, rec[mask.to_numpy(zero_copy_only=False)], n)
        return pc.utf8_trim(picked, '"')

    status = np.zeros(n, dtype=np.int8)
    status_text = attr("Acct-Status-Type")
    for word, code in STATUS.items():
        status[pc.equal(status_text, word).to_numpy(zero_copy_only=False)] = code
    t = _event_times(attr("Event-Timestamp"), path)
    if (t == END_OF_TIME).any():  # radiusd's own receive time stands in for a missing one
        t = np.where(t != END_OF_TIME, t, _event_times(attr("Timestamp"), path))
    if (t == END_OF_TIME).any():
        line = int(np.flatnonzero(starts)[np.argmax(t == END_OF_TIME)]) + 1
        raise InputError(path, f"line {line}: record has no Event-Timestamp or Timestamp")
    unique = attr("Acct-Unique-Session-Id")
    session = pc.if_else(
        pc.equal(unique, ""),
        pc.binary_join_element_wise(attr("Acct-Session-Id"), attr("NAS-IP-Address"), "@"),
        unique,
    )
    ip = ipv4_to_u32(attr("Framed-IP-Address"), path, "Framed-IP-Address")
    return pa.table(
        [ip, t, status, session, attr("User-Name"), attr("Calling-Station-Id")],
        schema=RECORD_SCHEMA,
    )


def radius_sessions(records: pa.Table, timeout: int) -> pa.Table:
    """Session intervals (:data:`INTERVAL_SCHEMA`) from accounting records of any files."""
    records = records.filter(pc.greater(records["status"], 0))
    if records.num_rows == 0:
        return INTERVAL_SCHEMA.empty_table()
    keys, inv = np.unique(records["session"].to_numpy(zero_copy_only=False), return_inverse=True)
    n = len(keys)
    t = records["t"].to_numpy()
    status = records["status"].to_numpy()
    first, last = np.full(n, END_OF_TIME), np.full(n, np.iinfo(np.int64).min)
    start, stop = np.full(n, END_OF_TIME), np.full(n, END_OF_TIME)
    np.minimum.at(first, inv, t)
    np.maximum.at(last, inv, t)
    np.minimum.at(start, inv[status == 1], t[status == 1])
    np.minimum.at(stop, inv[status == 2], t[status == 2])
    start = np.where(start == END_OF_TIME, first, start)
    ip_all = records["ip"].to_numpy()
    ip = np.zeros(n, dtype=np.uint32)
    ip[inv[ip_all > 0]] = ip_all[ip_all > 0]
    user = np.full(n, "", dtype=object)
    user_all = records["user"].to_numpy(zero_copy_only=False)
    has_user = user_all != ""
    user[inv[has_user]] = user_all[has_user]
    end = _session_ends(ip, start, last, stop, timeout)
    keep = (ip > 0) & (user != "")
    return address_intervals(keep, ip, start, end, user, "radius", keys.astype(object))


def _session_ends(
    ip: np.ndarray, start: np.ndarray, last: np.ndarray, stop: np.ndarray, timeout: int
) -> np.ndarray:
    """Stop time, else the next Start on the same address or the timeout after the last record."""
    order = np.lexsort((start, ip))
    next_start = np.full(len(ip), END_OF_TIME)
    same = ip[order][1:] == ip[order][:-1]
    next_start[order[:-1][same]] = start[order][1:][same]
    expiry = last + timeout if timeout > 0 else np.full(len(ip), END_OF_TIME)
    open_end = np.minimum(next_start, expiry)
    # A Stop before the Start (clock skew, lost Start) still closes the session at its Stop.
    return np.where(stop != END_OF_TIME, np.maximum(stop, start), open_end)
