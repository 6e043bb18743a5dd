"""The bucketed interval join agrees with a brute-force scan on random intervals and lookups."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from iotnotice.isp.logs import END_OF_TIME, INTERVAL_SCHEMA
from iotnotice.isp.match import match_lookups

DAY = 86_400
T0 = 1_795_600_800


def _oracle(rows: list[dict[str, int | str]], ip: int, t: int, port: int) -> set[str]:
    """Subscribers covering (ip, t, port), following inside addresses, by scanning every row."""
    found: set[str] = set()
    for r in rows:
        if r["ip"] != ip or not (r["start"] <= t < r["end"]):  # type: ignore[operator]
            continue
        lo, hi = int(r["port_lo"]), int(r["port_hi"])
        if lo >= 0 and port >= 0 and not lo <= port <= hi:
            continue
        if r["subscriber"]:
            found.add(str(r["subscriber"]))
        else:
            inner = _oracle([x for x in rows if int(x["port_lo"]) < 0], int(r["inside_ip"]), t, -1)
            found |= inner or {"<unresolved>"}
    return found


interval = st.fixed_dictionaries(
    {
        "ip": st.integers(1, 4),
        "start": st.integers(T0, T0 + 3 * DAY),
        "length": st.one_of(st.integers(1, 2 * DAY), st.just(-1)),
        "block": st.one_of(st.just(-1), st.integers(0, 255)),
        "size": st.sampled_from([64, 512, 1024, 4096]),
        "subscriber": st.sampled_from(["", "a", "b", "c"]),
        "inside": st.integers(1, 4),
    }
)


def _table(specs: list[dict[str, int | str]]) -> tuple[pa.Table, list[dict[str, int | str]]]:
    rows = []
    for s in specs:
        cgnat = int(s["block"]) >= 0
        lo = int(s["block"]) * 256 if cgnat else -1
        subscriber = str(s["subscriber"]) if cgnat or s["subscriber"] else "x"
        rows.append(
            {
                "ip": int(s["ip"]) + (100 if cgnat else 0),
                "start": int(s["start"]),
                "end": END_OF_TIME if s["length"] == -1 else int(s["start"]) + int(s["length"]),
                "port_lo": lo,
                "port_hi": min(lo + int(s["size"]) - 1, 65535) if cgnat else -1,
                "subscriber": subscriber,
                "inside_ip": int(s["inside"]) if cgnat and not subscriber else 0,
                "source": "cgnat" if cgnat else "radius",
                "ref": "",
            }
        )
    return pa.Table.from_pylist(rows, schema=INTERVAL_SCHEMA), rows


@settings(max_examples=100, deadline=None)
@given(
    specs=st.lists(interval, min_size=1, max_size=25),
    probes=st.lists(
        st.tuples(
            st.integers(0, 24), st.integers(-600, 2 * DAY), st.integers(-64, 4200), st.booleans()
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_join_matches_brute_force(
    specs: list[dict[str, int | str]], probes: list[tuple[int, int, int, bool]]
) -> None:
    """Status and subscriber of every lookup equal what a scan of all intervals gives."""
    table, rows = _table(specs)
    # Probe near an interval: its address, a time around its start, a port around its block.
    near = [(rows[k % len(rows)], dt, dp, no_port) for k, dt, dp, no_port in probes]
    ips = np.array([r["ip"] for r, _, _, _ in near], np.uint32)
    times = np.array([int(r["start"]) + dt for r, dt, _, _ in near], np.int64)
    ports = np.array(
        [
            -1 if no_port else max(0, min(65535, max(int(r["port_lo"]), 0) + dp))
            for r, _, dp, no_port in near
        ],
        np.int64,
    )
    result = match_lookups(table, ips, times, ports)
    for i in range(len(probes)):
        expected = _oracle(rows, int(ips[i]), int(times[i]), int(ports[i]))
        named = expected - {"<unresolved>"}
        if not expected:
            assert result.status[i] == "unmatched", (i, result.reason[i])
        elif len(named) == 1 and expected == named:
            assert (result.status[i], result.subscriber[i]) == ("matched", next(iter(named)))
        elif not named:
            assert result.status[i] == "unmatched" and "inside address" in result.reason[i]
        else:
            assert result.status[i] == "ambiguous", (i, expected, result.reason[i])
