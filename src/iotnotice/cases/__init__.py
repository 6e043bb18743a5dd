"""Cases: one infected host at one ISP over a period, with a notice ID and a lifecycle."""

from __future__ import annotations

from iotnotice.cases.lifecycle import OPEN, STATUSES, IllegalTransition, transition
from iotnotice.cases.manage import CaseSummary, update_cases
from iotnotice.cases.notice_id import is_valid, new_notice_id, normalise

__all__ = [
    "OPEN",
    "STATUSES",
    "CaseSummary",
    "IllegalTransition",
    "is_valid",
    "new_notice_id",
    "normalise",
    "transition",
    "update_cases",
]
