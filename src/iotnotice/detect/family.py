"""Partial rows per address family: flow rows into partials, partials merged per file.

IPv4 sources are their own uint64 ids; IPv6 sources are ranks among the addresses of the
table at hand (ids sort as the addresses do), mapped back to addresses when a partial table is
made. The partial kinds and how they merge are :data:`iotnotice.detect.merge.SPEC`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iotnotice.detect.merge import KINDS, combine, row_partials
from iotnotice.schemas import FLOW_TUPLE, arrow_schema

__all__ = ["COLUMNS", "EMPTY_FLOWS", "Family", "build_partials", "combine_tables", "family_rows"]

# Flow-tuple columns the partials are made of.
COLUMNS = [
    "src_ip", "src_ip6", "dst_ip", "dst_ip6", "src_port", "dst_port", "protocol", "ttl",
    "tcp_flags", "tcp_synlen", "tcp_synwinlen", "time", "packet_cnt", "mirai_cnt",
    "masscan_cnt", "zmap_cnt", "spoofed_cnt", "quirk_cnt",
]  # fmt: skip
EMPTY_FLOWS = arrow_schema(FLOW_TUPLE).empty_table().select(COLUMNS)
_IP6 = pa.binary(16)


def _ranks(values: list[bytes | None]) -> tuple[list[bytes | None], np.ndarray]:
    """(sorted distinct values, each value's rank): uint64 ids that sort as the bytes do."""
    universe = sorted(set(values), key=lambda b: b or b"")
    return universe, _ids(values, universe)


def _ids(values: list[bytes | None], universe: list[bytes | None]) -> np.ndarray:
    index = {v: i for i, v in enumerate(universe)}
    return np.array([index[v] for v in values], dtype=np.uint64)


def family_rows(table: pa.Table, v6: bool) -> pa.Table:
    """The rows of ``table`` with an IPv6 (``v6``) or an IPv4 source."""
    if "src_ip6" not in table.column_names:  # stored without IPv6 sources
        return table.slice(0, 0) if v6 else table
    nulls = table.column("src_ip6").null_count
    if nulls in (0, table.num_rows):  # one family only (IPv4: the usual case): no copy
        return table if (nulls == 0) == v6 else table.slice(0, 0)
    valid = pc.is_valid(table.column("src_ip6"))
    return table.filter(valid if v6 else pc.invert(valid))


@dataclass
class Family:
    """One family's rows as numpy columns, addresses as uint64 ids (``src``, ``dst``): IPv4
    addresses themselves, IPv6 ones as ranks in ``srcs`` / ``dsts`` (ids sort as addresses)."""

    cols: dict[str, np.ndarray]
    v6: bool
    srcs: list[bytes | None] | None = None
    dsts: list[bytes | None] | None = None

    @classmethod
    def of(cls, table: pa.Table, v6: bool, srcs: list[bytes | None] | None = None) -> Family:
        """``table``'s rows (all of the family) with ids; ``srcs``: a given IPv6 universe."""
        cols = {c: table.column(c).to_numpy() for c in table.column_names if "_ip" not in c}
        fam = cls(cols, v6)
        has_dst = "dst_ip" in table.column_names
        if v6:
            # (A table stored without IPv6 columns has no IPv6 rows: the lists are empty.)
            src6 = table.column("src_ip6").to_pylist() if table.num_rows else []
            if srcs is None:
                fam.srcs, cols["src"] = _ranks(src6)
            else:
                fam.srcs, cols["src"] = srcs, _ids(src6, srcs)
            if has_dst:
                dst6 = table.column("dst_ip6").to_pylist() if table.num_rows else []
                fam.dsts, cols["dst"] = _ranks(dst6)
        else:
            cols["src"] = table.column("src_ip").to_numpy().astype(np.uint64)
            if has_dst:
                cols["dst"] = table.column("dst_ip").to_numpy().astype(np.uint64)
        return fam

    def table(self, merged: dict[str, np.ndarray]) -> pa.Table:
        """Partial rows with ids (as ``combine`` gives them) back to a table with addresses."""
        merged = dict(merged)
        out: dict[str, pa.Array] = {}
        for end, universe in (("src", self.srcs), ("dst", self.dsts)):
            if end not in merged:
                continue
            ids = merged.pop(end)
            if self.v6:
                out[f"{end}_ip"] = pa.array(np.zeros(len(ids), dtype=np.uint32))
                assert universe is not None
                out[f"{end}_ip6"] = pa.array([universe[i] for i in ids.tolist()], type=_IP6)
            else:
                out[f"{end}_ip"] = pa.array(ids.astype(np.uint32))
                out[f"{end}_ip6"] = pa.nulls(len(ids), _IP6)
        out.update({name: pa.array(values) for name, values in merged.items()})
        return pa.table(out)


def build_partials(table: pa.Table, iot_ports: list[int]) -> dict[str, pa.Table]:
    """The partials of flow rows (``COLUMNS``, any order): per kind a table sorted by key,
    IPv6 sources first (as ranks in the file), then IPv4."""
    pieces: dict[str, list[pa.Table]] = {k: [] for k in KINDS}
    for v6 in (True, False):
        rows = family_rows(table, v6)
        if rows.num_rows == 0 and v6:
            continue  # (an empty IPv4 part still gives every kind its typed columns)
        fam = Family.of(rows, v6)
        for kind, cols in row_partials(fam.cols, iot_ports).items():
            pieces[kind].append(fam.table(combine(kind, cols, runs=True)))
    return {kind: pa.concat_tables(parts) for kind, parts in pieces.items()}


def combine_tables(kind: str, tables: list[pa.Table]) -> pa.Table:
    """Partial tables of one kind merged into one (sorted by key, IPv6 sources first)."""
    table = pa.concat_tables(tables)
    pieces = []
    for v6 in (True, False):
        rows = family_rows(table, v6)
        if rows.num_rows == 0 and v6:
            continue
        fam = Family.of(rows, v6)
        pieces.append(fam.table(combine(kind, fam.cols)))
    return pa.concat_tables(pieces)
