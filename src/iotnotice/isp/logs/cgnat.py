"""CGNAT port-block logs -> (public address, port range, time range) intervals.

The documented format (one allocation per line, CSV with this header)::

    start,end,public_ip,port_first,port_last,inside_ip,subscriber
    2026-11-25T10:00:00Z,2026-11-25T12:00:00Z,198.51.100.7,1024,2047,100.64.1.23,
    2026-11-25T10:05:00Z,,198.51.100.7,2048,3071,,A-10042

Times are ISO 8601 (no offset means UTC) or epoch seconds; an empty ``end`` means the block is
still allocated. Give ``subscriber`` when the NAT knows it; otherwise ``inside_ip`` is matched in
turn against the RADIUS/DHCP records of the inside (private) addresses. Most CGNAT products
(Juniper, A10, Cisco, Nokia) can export their port-block allocation logs to this shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.errors import InputError
from iotnotice.isp.logs._columns import INTERVAL_SCHEMA, ipv4_to_u32, iso_to_epoch, read_csv_strings

__all__ = ["CGNAT_COLUMNS", "parse_cgnat_log"]

CGNAT_COLUMNS = ("start", "end", "public_ip", "port_first", "port_last", "inside_ip", "subscriber")


def _ports(values: pa.Array, path: Path, what: str) -> np.ndarray:
    try:  # fast path; only a failure pays for the regex that names the bad row
        ports = pc.cast(values, pa.uint16()).to_numpy(zero_copy_only=False)
        return ports.astype(np.int32)
    except pa.ArrowInvalid:
        pass
    ok = pc.match_substring_regex(values, r"^\d{1,5}$").to_numpy(zero_copy_only=False)
    numbers = pc.cast(pc.if_else(pa.array(ok), values, "0"), pa.int64())
    ok &= numbers.to_numpy(zero_copy_only=False) <= 65535
    row = int(np.argmin(ok))
    raise InputError(path, f"line {row + 2}: {what} {values[row].as_py()!r} is not a port")


def parse_cgnat_log(path: Path) -> pa.Table:
    """Port-block intervals (:data:`INTERVAL_SCHEMA`) of one CGNAT log file."""
    table = read_csv_strings(path, CGNAT_COLUMNS, "CGNAT port-block log")
    cols = {name: table[name].combine_chunks() for name in CGNAT_COLUMNS}
    lo, hi = (
        _ports(cols["port_first"], path, "port_first"),
        _ports(cols["port_last"], path, "port_last"),
    )
    if (hi < lo).any():
        raise InputError(path, f"line {int(np.argmax(hi < lo)) + 2}: port_last is below port_first")
    start = iso_to_epoch(cols["start"], path, "start", first_line=2)
    end = iso_to_epoch(cols["end"], path, "end", first_line=2)
    subscriber = pc.utf8_trim_whitespace(cols["subscriber"])
    inside = ipv4_to_u32(pc.utf8_trim_whitespace(cols["inside_ip"]), path, "inside_ip", 2)
    orphan = pc.equal(subscriber, "").to_numpy(zero_copy_only=False) & (inside == 0)
    if orphan.any():
        raise InputError(path, f"line {int(np.argmax(orphan)) + 2}: needs inside_ip or subscriber")
    n = table.num_rows
    return pa.table(
        [
            ipv4_to_u32(cols["public_ip"], path, "public_ip", first_line=2),
            start,
            end,
            lo,
            hi,
            subscriber,
            inside,
            pa.repeat("cgnat", n),
            pa.repeat("", n),
        ],
        schema=INTERVAL_SCHEMA,
    )
