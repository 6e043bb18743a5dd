"""Subscriber logs an ISP already has, as address intervals: RADIUS, ISC dhcpd, Kea, CGNAT."""

from iotnotice.isp.logs._columns import END_OF_TIME, INTERVAL_SCHEMA, ipv4_to_u32, u32_to_ipv4
from iotnotice.isp.logs.cgnat import CGNAT_COLUMNS, parse_cgnat_log
from iotnotice.isp.logs.dhcpd import parse_dhcpd_leases
from iotnotice.isp.logs.kea import parse_kea_leases
from iotnotice.isp.logs.radius import RECORD_SCHEMA, parse_radius_detail, radius_sessions
from iotnotice.isp.logs.store import KINDS, LoadResult, load_intervals, load_logs, logs_path

__all__ = [
    "CGNAT_COLUMNS",
    "END_OF_TIME",
    "INTERVAL_SCHEMA",
    "KINDS",
    "RECORD_SCHEMA",
    "LoadResult",
    "ipv4_to_u32",
    "load_intervals",
    "load_logs",
    "logs_path",
    "parse_cgnat_log",
    "parse_dhcpd_leases",
    "parse_kea_leases",
    "parse_radius_detail",
    "radius_sessions",
    "u32_to_ipv4",
]
