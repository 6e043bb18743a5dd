"""Shared interval columns and vectorised converters (IPv4 text -> uint32, times -> epoch seconds).

Every log kind becomes rows of :data:`INTERVAL_SCHEMA`: an address held by a subscriber from
``start`` (inclusive) to ``end`` (exclusive), epoch seconds UTC. ``port_lo``/``port_hi`` are -1
except for CGNAT port blocks; ``inside_ip`` is the private address behind a CGNAT block (0: none).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from iotnotice.errors import InputError

__all__ = [
    "END_OF_TIME",
    "INTERVAL_SCHEMA",
    "address_intervals",
    "first_bad_line",
    "ipv4_to_u32",
    "iso_to_epoch",
    "line_of",
    "per_group",
    "read_csv_strings",
    "read_lines",
    "read_text",
    "u32_to_ipv4",
]

END_OF_TIME = np.iinfo(np.int64).max

INTERVAL_SCHEMA = pa.schema(
    [
        pa.field("ip", pa.uint32()),
        pa.field("start", pa.int64()),
        pa.field("end", pa.int64()),
        pa.field("port_lo", pa.int32()),
        pa.field("port_hi", pa.int32()),
        pa.field("subscriber", pa.string()),
        pa.field("inside_ip", pa.uint32()),
        pa.field("source", pa.string()),
        pa.field("ref", pa.string()),
    ]
)


def address_intervals(
    keep: np.ndarray,
    ip: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    subscriber: pa.Array | np.ndarray,
    source: str,
    ref: pa.Array | np.ndarray,
) -> pa.Table:
    """Rows of :data:`INTERVAL_SCHEMA` for whole addresses (no port block, no inside address).

    Every column holds one value per parsed row; only rows where ``keep`` is true are returned.
    """
    count = int(keep.sum())
    mask = pa.array(keep)

    def kept(values: pa.Array | np.ndarray) -> pa.Array | np.ndarray:
        return values.filter(mask) if isinstance(values, pa.Array) else values[keep]

    return pa.table(
        [
            ip[keep],
            start[keep],
            end[keep],
            np.full(count, -1, np.int32),
            np.full(count, -1, np.int32),
            kept(subscriber),
            np.zeros(count, np.uint32),
            pa.repeat(source, count),
            kept(ref),
        ],
        schema=INTERVAL_SCHEMA,
    )


_IPV4 = r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


def read_text(path: Path) -> str:
    """The whole file as text (logs are ASCII; stray bytes are replaced, not fatal)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def read_csv_strings(path: Path, columns: tuple[str, ...], kind: str) -> pa.Table:
    """The named columns of a CSV file with a header row, as strings (empty, never null)."""
    try:
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                include_columns=list(columns),
                strings_can_be_null=False,
            ),
        )
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (pa.ArrowInvalid, KeyError) as exc:
        raise InputError(path, f"not a {kind}: {str(exc).splitlines()[0]}") from None


def read_lines(path: Path) -> pa.LargeStringArray:
    """The file as an Arrow array of its lines (each still ending in its newline), zero-copy.

    Newlines are found with numpy and the line offsets handed to Arrow directly, so string
    kernels (RE2 regexes, prefix tests, slices) then run over every line in C++.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data.decode("utf-8")  # Arrow string kernels need valid UTF-8
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode()
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if data and not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)
    )


def per_group(values: pa.Array, groups: np.ndarray, n: int) -> pa.Array:
    """Scatter ``values`` (one per row, row i in group ``groups[i]``) to one per group.

    Groups without a value get ""; when a group has several, the last wins.
    """
    index = np.full(n, -1, np.int64)
    index[groups] = np.arange(len(groups))
    taken = pc.take(values, pa.array(index, mask=index < 0))
    return pc.fill_null(pc.cast(taken, pa.string()), "")


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1


def first_bad_line(text: str, allowed: re.Pattern[str]) -> int | None:
    """Line number of the first line ``allowed`` (a negative-lookahead scan) flags, or None."""
    found = allowed.search(text)
    return None if found is None else line_of(text, found.start())


def ipv4_to_u32(
    values: pa.Array | list[str], path: Path, what: str, first_line: int = 1
) -> np.ndarray:
    """Dotted quads -> uint32, vectorised; empty strings become 0; anything else is an error."""
    arr = pa.array(values, pa.string()) if not isinstance(values, pa.Array) else values
    arr = pc.fill_null(arr, "")
    empty = pc.equal(arr, "")
    parts = pc.split_pattern(pc.if_else(empty, "0.0.0.0", arr), ".")
    quads = None
    # Fast path: split and cast; only a failure pays for the regex that names the bad row.
    if pc.all(pc.equal(pc.list_value_length(parts), 4)).as_py():
        try:
            octets = pc.cast(parts.flatten(), pa.uint32()).to_numpy()
        except pa.ArrowInvalid:
            octets = None
        if octets is not None and (len(octets) == 0 or int(octets.max()) <= 255):
            quads = octets.reshape(-1, 4)
    if quads is None:
        ok = pc.or_(empty, pc.match_substring_regex(arr, _IPV4))
        _reject(path, ok, arr, first_line, f"{what} is not an IPv4 address")
        raise InputError(path, f"{what}: not an IPv4 address")
    return (quads[:, 0] << 24) | (quads[:, 1] << 16) | (quads[:, 2] << 8) | quads[:, 3]


def u32_to_ipv4(values: np.ndarray) -> list[str]:
    """uint32 -> dotted quads."""
    v = np.asarray(values, dtype=np.uint32)
    parts = [(v >> s) & 0xFF for s in (24, 16, 8, 0)]
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*(p.tolist() for p in parts), strict=True)]


def _reject(path: Path, mask: pa.Array, values: pa.Array, first_line: int, what: str) -> None:
    """Raise for the first row where ``mask`` is false, naming its line."""
    if pc.all(mask).as_py():
        return
    index = int(np.argmin(mask.to_numpy(zero_copy_only=False)))
    raise InputError(path, f"line {first_line + index}: {what}: {values[index].as_py()!r}")


_ISO = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?$"


def iso_to_epoch(values: pa.Array, path: Path, what: str, first_line: int = 1) -> np.ndarray:
    """ISO 8601 (naive means UTC) or epoch-second strings -> int64; empty -> END_OF_TIME."""
    arr = pc.utf8_trim_whitespace(pc.fill_null(values, ""))
    empty = pc.equal(arr, "")
    try:  # epoch seconds only: skip the regexes and the date parser
        nums = pc.cast(pc.if_else(empty, "0", arr), pa.int64()).to_numpy(zero_copy_only=False)
        if len(nums) == 0 or int(nums.min()) >= 0:
            return np.where(empty.to_numpy(zero_copy_only=False), END_OF_TIME, nums)
    except pa.ArrowInvalid:
        pass
    digits = pc.match_substring_regex(arr, r"^\d+$")
    iso = pc.match_substring_regex(arr, _ISO)
    _reject(path, pc.or_(pc.or_(empty, digits), iso), arr, first_line, f"{what} is not a time")
    text = pc.replace_substring_regex(
        pc.if_else(iso, arr, "1970-01-01T00:00:00Z"),
        r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?)$",
        r"\1Z",
    )
    stamps = pc.cast(
        pc.cast(text, pa.timestamp("us", tz="UTC")), pa.timestamp("s", tz="UTC"), safe=False
    )
    out = pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False)
    nums = pc.cast(pc.if_else(digits, arr, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    out = np.where(digits.to_numpy(zero_copy_only=False), nums, out)
    return np.where(empty.to_numpy(zero_copy_only=False), END_OF_TIME, out)
