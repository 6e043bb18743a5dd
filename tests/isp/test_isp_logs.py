"""Log parsers: FreeRADIUS detail, ISC dhcpd.leases, Kea lease CSV and CGNAT port-block logs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from isp_helpers import T0, radius_record

from iotnotice.errors import InputError
from iotnotice.isp.logs import (
    END_OF_TIME,
    parse_cgnat_log,
    parse_dhcpd_leases,
    parse_kea_leases,
    parse_radius_detail,
    radius_sessions,
    u32_to_ipv4,
)

M = timedelta(minutes=1)
H = timedelta(hours=1)


def _epoch(delta: timedelta) -> int:
    return int((T0 + delta).timestamp())


def test_radius_start_stop_and_interim(files: Path) -> None:
    """A Start/Interim/Stop session becomes one interval from Start to Stop."""
    path = files / "detail"
    path.write_text(
        radius_record(T0, "Start", "A1", "alice", "198.51.100.10")
        + radius_record(T0 + 10 * M, "Interim-Update", "A1", "alice", "198.51.100.10")
        + radius_record(T0 + H, "Stop", "A1", "alice", "198.51.100.10")
    )
    records = parse_radius_detail(path)
    assert records["status"].to_pylist() == [1, 3, 2]
    sessions = radius_sessions(records, timeout=7200).to_pylist()
    assert len(sessions) == 1
    assert sessions[0]["subscriber"] == "alice"
    assert (sessions[0]["start"], sessions[0]["end"]) == (_epoch(0 * M), _epoch(H))
    assert u32_to_ipv4([sessions[0]["ip"]]) == ["198.51.100.10"]


def test_radius_session_without_stop_ends_at_next_start(files: Path) -> None:
    """A session with no Stop ends at the next Start on its address (reuse minutes apart)."""
    path = files / "detail"
    path.write_text(
        radius_record(T0, "Start", "A1", "alice", "198.51.100.10")
        + radius_record(T0 + 3 * M, "Start", "B1", "bob", "198.51.100.10")
        + radius_record(T0 + 20 * M, "Stop", "B1", "bob", "198.51.100.10")
    )
    sessions = {
        s["subscriber"]: s for s in radius_sessions(parse_radius_detail(path), 7200).to_pylist()
    }
    assert (sessions["alice"]["start"], sessions["alice"]["end"]) == (_epoch(0 * M), _epoch(3 * M))
    assert (sessions["bob"]["start"], sessions["bob"]["end"]) == (_epoch(3 * M), _epoch(20 * M))


def test_radius_open_session_times_out_after_last_record(files: Path) -> None:
    """With no Stop and no later Start, a session ends ``timeout`` after its last Interim."""
    path = files / "detail"
    path.write_text(
        radius_record(T0, "Start", "A1", "alice", "198.51.100.10")
        + radius_record(T0 + H, "Interim-Update", "A1", "alice", "198.51.100.10")
    )
    records = parse_radius_detail(path)
    assert radius_sessions(records, 600).to_pylist()[0]["end"] == _epoch(H + 10 * M)
    assert radius_sessions(records, 0).to_pylist()[0]["end"] == END_OF_TIME


def test_radius_start_and_stop_in_rotated_files(files: Path) -> None:
    """Records of two rotated files rebuild one session; JST Event-Timestamps are converted."""
    import pyarrow as pa

    first, second = files / "detail-20261125", files / "detail-20261126"
    first.write_text(radius_record(T0, "Start", "A1", "alice", "198.51.100.10", tz="JST"))
    second.write_text(radius_record(T0 + 5 * H, "Stop", "A1", "alice", "198.51.100.10"))
    records = pa.concat_tables([parse_radius_detail(first), parse_radius_detail(second)])
    [session] = radius_sessions(records, 600).to_pylist()
    assert (session["start"], session["end"]) == (_epoch(0 * M), _epoch(5 * H))


def test_radius_bad_line_is_named(files: Path) -> None:
    """A line that fits no detail-record shape is reported with its file and line number."""
    path = files / "detail"
    path.write_text(radius_record(T0, "Start", "A1", "alice", "198.51.100.10") + "garbage here\n")
    with pytest.raises(InputError, match=r"detail: line 14: not a FreeRADIUS"):
        parse_radius_detail(path)


def test_radius_bad_address_is_named(files: Path) -> None:
    """A Framed-IP-Address that is not IPv4 is an input error naming the value."""
    path = files / "detail"
    path.write_text(radius_record(T0, "Start", "A1", "alice", "198.51.100.300"))
    with pytest.raises(InputError, match=r"198\.51\.100\.300"):
        parse_radius_detail(path)


LEASES = """\
# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3
authoring-byte-order little-endian;

lease 192.0.2.10 {
  starts 3 2026/11/25 10:00:00;
  ends 3 2026/11/25 22:00:00;
  cltt 3 2026/11/25 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 00:11:22:33:44:55;
  uid "\\001\\000\\021\\"3DU";
  client-hostname "camera";
}
lease 192.0.2.10 {
  starts 3 2026/11/25 16:00:00;
  ends 4 2026/11/26 04:00:00;
  cltt 3 2026/11/25 16:00:00;
  binding state active;
  next binding state free;
  hardware ethernet 00:11:22:33:44:55;
  client-hostname "camera";
}
lease 192.0.2.11 {
  starts epoch 1795600800; # Wed Nov 25 10:00:00 2026
  ends never;
  binding state active;
  hardware ethernet 00:11:22:33:44:66;
  option agent.circuit-id "olt1/1/7";
}
lease 192.0.2.12 {
  starts 3 2026/11/25 10:00:00;
  ends 3 2026/11/25 12:00:00;
  binding state abandoned;
}
"""


def test_dhcpd_leases_blocks(files: Path) -> None:
    """Each client lease block is an interval; renewals overlap; option 82 names the line."""
    path = files / "dhcpd.leases"
    path.write_text(LEASES)
    rows = parse_dhcpd_leases(path).to_pylist()
    assert [(u32_to_ipv4([r["ip"]])[0], r["subscriber"]) for r in rows] == [
        ("192.0.2.10", "00:11:22:33:44:55"),
        ("192.0.2.10", "00:11:22:33:44:55"),
        ("192.0.2.11", "olt1/1/7"),
    ]
    assert (rows[0]["start"], rows[0]["end"]) == (_epoch(0 * H), _epoch(12 * H))
    assert rows[2]["end"] == END_OF_TIME
    assert rows[0]["ref"] == "camera"


def test_dhcpd_unclosed_block(files: Path) -> None:
    """A lease block without its closing brace is reported with the file name."""
    path = files / "dhcpd.leases"
    path.write_text("lease 192.0.2.10 {\n  starts 3 2026/11/25 10:00:00;\n")
    with pytest.raises(InputError, match=r"dhcpd.leases: line 2: lease block is not closed"):
        parse_dhcpd_leases(path)


KEA_HEADER = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
    "hostname,state,user_context,pool_id\n"
)


def test_kea_leases(files: Path) -> None:
    """A Kea row holds its address for valid_lifetime up to expire; declined rows are skipped."""
    path = files / "kea-leases4.csv"
    path.write_text(
        KEA_HEADER
        + f"192.0.2.20,AA:BB:CC:DD:EE:FF,01:aa:bb:cc:dd:ee:ff,3600,{_epoch(H)},1,0,0,cam,0,,0\n"
        + f"192.0.2.21,,01:02:03,3600,{_epoch(H)},1,0,0,,0,,0\n"
        + f"192.0.2.22,aa:aa:aa:aa:aa:aa,,3600,{_epoch(H)},1,0,0,,1,,0\n"
    )
    rows = parse_kea_leases(path).to_pylist()
    assert [r["subscriber"] for r in rows] == ["aa:bb:cc:dd:ee:ff", "01:02:03"]
    assert (rows[0]["start"], rows[0]["end"]) == (_epoch(0 * H), _epoch(H))


def test_kea_bad_expire_names_line(files: Path) -> None:
    """A non-numeric expire is an error naming the CSV line."""
    path = files / "kea.csv"
    path.write_text(KEA_HEADER + "192.0.2.20,aa:bb:cc:dd:ee:ff,,3600,soon,1,0,0,,0,,0\n")
    with pytest.raises(InputError, match=r"kea.csv: line 2: expire 'soon'"):
        parse_kea_leases(path)


CGNAT = """\
start,end,public_ip,port_first,port_last,inside_ip,subscriber
2026-11-25T10:00:00Z,2026-11-25T12:00:00Z,198.51.100.7,1024,2047,100.64.1.23,
2026-11-25 10:05:00,,198.51.100.7,2048,3071,,A-10042
1795600800,1795604400,198.51.100.8,1024,1535,,A-10043
"""


def test_cgnat_port_blocks(files: Path) -> None:
    """Port blocks keep their range; ISO, naive and epoch times parse; empty end is open."""
    path = files / "cgnat.csv"
    path.write_text(CGNAT)
    rows = parse_cgnat_log(path).to_pylist()
    assert [(r["port_lo"], r["port_hi"]) for r in rows] == [
        (1024, 2047),
        (2048, 3071),
        (1024, 1535),
    ]
    assert [r["start"] for r in rows] == [_epoch(0 * M), _epoch(5 * M), _epoch(0 * M)]
    assert rows[1]["end"] == END_OF_TIME
    assert u32_to_ipv4([rows[0]["inside_ip"]]) == ["100.64.1.23"]


def test_cgnat_bad_port_range(files: Path) -> None:
    """A port outside 0-65535 is an error naming the line."""
    path = files / "cgnat.csv"
    path.write_text(CGNAT.replace("1024,1535", "1024,70000"))
    with pytest.raises(InputError, match=r"cgnat.csv: line 4: port_last '70000' is not a port"):
        parse_cgnat_log(path)
