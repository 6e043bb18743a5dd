"""The ISP toolkit: an ISP's own deployment that turns report lines into alerted subscribers.

Reports (Shadowserver CSV, X-ARF v4, JSON, or pulled from the coordinator's API) become ISP-side
cases; RADIUS, DHCP and CGNAT logs map each case's (address, time, port) to a subscriber; alerts
and the walled garden reach the subscriber; only (notice ID, status) goes back to the coordinator.
Subscriber identities never leave this deployment's database.
"""

from iotnotice.isp.alerts import AlertSummary, render_alert, render_landing, send_alerts
from iotnotice.isp.casework import (
    STATUSES,
    case_detail,
    list_cases,
    load_subscribers,
    set_status_by_notice,
)
from iotnotice.isp.coordinator import API_PATHS, pull_reports, push_status
from iotnotice.isp.logs import load_intervals, load_logs
from iotnotice.isp.match import MatchResult, MatchSummary, match_cases, match_lookups
from iotnotice.isp.quarantine import export_quarantine, quarantine_cases, release
from iotnotice.isp.reports import ImportSummary, import_reports, parse_report_file

__all__ = [
    "API_PATHS",
    "STATUSES",
    "AlertSummary",
    "ImportSummary",
    "MatchResult",
    "MatchSummary",
    "case_detail",
    "export_quarantine",
    "import_reports",
    "list_cases",
    "load_intervals",
    "load_logs",
    "load_subscribers",
    "match_cases",
    "match_lookups",
    "parse_report_file",
    "pull_reports",
    "push_status",
    "quarantine_cases",
    "release",
    "render_alert",
    "render_landing",
    "send_alerts",
    "set_status_by_notice",
]
