"""Cases: one infected host at one ISP over a period, with a notice ID and a lifecycle."""

from __future__ import annotations

from iotnotice.cases.lifecycle import OPEN, STATUSES, IllegalTransition, transition
from iotnotice.cases.manage import CaseSummary, update_cases
from iotnotice.cases.notice_id import is_valid, new_notice_id, normalise
from iotnotice.cases.query import find_case, get_case, list_cases, set_status

__all__ = [
    "OPEN",
    "STATUSES",
    "CaseSummary",
    "IllegalTransition",
    "find_case",
    "get_case",
    "is_valid",
    "list_cases",
    "new_notice_id",
    "normalise",
    "set_status",
    "transition",
    "update_cases",
]
