"""Kea DHCPv4 memfile lease CSV -> address intervals.

Columns (Kea ``lease4`` file): ``address,hwaddr,client_id,valid_lifetime,expire,subnet_id,
fqdn_fwd,fqdn_rev,hostname,state,user_context[,pool_id]``. A row holds ``address`` from
``expire - valid_lifetime`` (the client's last transmission) to ``expire``; Kea appends a row on
every renewal. Declined leases (state 1) and rows with no client are skipped. The subscriber is
the hardware address, else the client identifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.errors import InputError
from iotnotice.isp.logs._columns import address_intervals, ipv4_to_u32, read_csv_strings

__all__ = ["parse_kea_leases"]

_NEEDED = ("address", "hwaddr", "client_id", "valid_lifetime", "expire", "hostname", "state")


def _int(column: pa.Array, path: Path, what: str) -> np.ndarray:
    text = pc.fill_null(column, "0")
    try:  # fast path; only a failure pays for the regex that names the bad row
        return pc.cast(text, pa.uint32()).to_numpy(zero_copy_only=False).astype(np.int64)
    except pa.ArrowInvalid:
        pass
    ok = pc.match_substring_regex(text, r"^\d+$").to_numpy(zero_copy_only=False)
    row = int(np.argmin(ok))
    raise InputError(path, f"line {row + 2}: {what} {text[row].as_py()!r} is not a number")


def parse_kea_leases(path: Path) -> pa.Table:
    """Address intervals (:data:`INTERVAL_SCHEMA`) of one Kea lease4 CSV file."""
    table = read_csv_strings(path, _NEEDED, "Kea lease CSV")
    cols = {name: pc.fill_null(table[name].combine_chunks(), "") for name in _NEEDED}
    expire = _int(cols["expire"], path, "expire")
    lifetime = _int(cols["valid_lifetime"], path, "valid_lifetime")
    state = _int(pc.if_else(pc.equal(cols["state"], ""), "0", cols["state"]), path, "state")
    mac = pc.utf8_lower(cols["hwaddr"])
    subscriber = pc.if_else(pc.equal(mac, ""), cols["client_id"], mac)
    keep = pc.not_equal(subscriber, "").to_numpy(zero_copy_only=False) & (state != 1)
    ip = ipv4_to_u32(cols["address"], path, "address", first_line=2)
    return address_intervals(
        keep, ip, expire - lifetime, expire, subscriber, "kea", cols["hostname"]
    )
