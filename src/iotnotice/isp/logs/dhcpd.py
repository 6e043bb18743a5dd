"""ISC ``dhcpd.leases`` -> address intervals, one per lease block that names a client.

A block ``lease 192.0.2.10 { starts 3 2026/11/25 10:00:00; ends ...; hardware ethernet ...; }``
holds the address from ``starts`` to ``ends`` (UTC; ``ends never`` is open; ``epoch N;`` forms
too). dhcpd appends a new block on every renewal and release, so the file is a history; blocks of
the same client simply overlap. The subscriber is the relay agent's remote-id or circuit-id when
the server records them (option 82), else the client's hardware address. Abandoned leases and
blocks with no client are skipped.
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

__all__ = ["parse_dhcpd_leases"]

_FIELDS = (
    "starts",
    "ends",
    "hardware ethernet",
    "uid",
    "client-hostname",
    "binding state",
    "option agent.remote-id",
    "option agent.circuit-id",
)


def _times(values: pa.Array, path: Path, what: str) -> np.ndarray:
    """``W YYYY/MM/DD HH:MM:SS`` (UTC), ``epoch N`` or ``never`` -> int64 seconds."""
    text = pc.utf8_trim_whitespace(values)
    parts = pc.extract_regex(text, r"^\d (?P<when>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)$")
    dated = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    epoch = pc.extract_regex(text, r"^epoch (?P<n>\d+)")
    epoched = pc.is_valid(epoch).to_numpy(zero_copy_only=False)
    never = pc.is_in(text, pa.array(["never", ""])).to_numpy(zero_copy_only=False)
    bad = ~(dated | epoched | never)
    if bad.any():
        raise InputError(
            path, f"lease {what} {values[int(np.argmax(bad))].as_py()!r} is not a time"
        )
    when = pc.fill_null(pc.struct_field(parts, "when"), "1970/01/01 00:00:00")
    dates = pc.cast(pc.strptime(when, format="%Y/%m/%d %H:%M:%S", unit="s"), pa.int64())
    nums = pc.cast(pc.fill_null(pc.struct_field(epoch, "n"), "0"), pa.int64())
    out = np.where(dated, dates.to_numpy(zero_copy_only=False), nums.to_numpy(zero_copy_only=False))
    return np.where(never, END_OF_TIME, out)


def _blocks(lines: pa.Array, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Block number of every line (-1 outside blocks) and the index of each ``lease`` line."""
    opens = pc.match_substring_regex(lines, r"^lease [\d.]+ \{\s*$").to_numpy(zero_copy_only=False)
    closes = pc.match_substring_regex(lines, r"^\}\s*$").to_numpy(zero_copy_only=False)
    depth = np.cumsum(opens.astype(np.int64) - closes)
    bad = (depth < 0) | (depth > 1)
    if bad.any():
        raise InputError(path, f"line {int(np.argmax(bad)) + 1}: unbalanced lease block")
    if len(depth) and depth[-1] != 0:
        raise InputError(path, f"line {len(depth)}: lease block is not closed")
    block = np.cumsum(opens) - 1
    return np.where(depth > 0, block, -1), np.flatnonzero(opens)


def parse_dhcpd_leases(path: Path) -> pa.Table:
    """Address intervals (:data:`INTERVAL_SCHEMA`) of one dhcpd.leases file."""
    lines = read_lines(path)
    block, heads = _blocks(lines, path)
    n = len(heads)
    if n == 0:
        return INTERVAL_SCHEMA.empty_table()
    body = pc.utf8_trim_whitespace(lines)

    def field(name: str) -> pa.Array:
        mask = pc.and_(pc.starts_with(body, name + " "), pa.array(block >= 0))
        values = pc.utf8_rtrim(pc.utf8_slice_codeunits(body.filter(mask), len(name) + 1), ";")
        picked = per_group(values, block[mask.to_numpy(zero_copy_only=False)], n)
        return pc.utf8_trim(pc.utf8_trim_whitespace(picked), '"')

    ips = pc.extract_regex(lines.take(pa.array(heads)), r"^lease (?P<ip>[\d.]+) ")
    mac = pc.utf8_lower(field("hardware ethernet"))
    subscriber = field("option agent.remote-id")
    for fallback in (field("option agent.circuit-id"), mac, field("uid")):
        subscriber = pc.if_else(pc.equal(subscriber, ""), fallback, subscriber)
    abandoned = pc.equal(field("binding state"), "abandoned").to_numpy(zero_copy_only=False)
    keep = pc.not_equal(subscriber, "").to_numpy(zero_copy_only=False) & ~abandoned
    start, end = _times(field("starts"), path, "starts"), _times(field("ends"), path, "ends")
    address = pc.cast(pc.struct_field(ips, "ip"), pa.string())
    ip = ipv4_to_u32(address, path, "lease address")
    return address_intervals(keep, ip, start, end, subscriber, "dhcpd", field("client-hostname"))
