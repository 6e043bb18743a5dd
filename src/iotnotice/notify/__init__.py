"""Reports to ISPs: Shadowserver-format CSV, X-ARF v4, JSON and e-mail, through an outbox."""

from __future__ import annotations

from iotnotice.notify.run import IspResult, NotifySummary, run_notify
from iotnotice.notify.smtp import DeliverySummary, deliver_outbox

__all__ = ["DeliverySummary", "IspResult", "NotifySummary", "deliver_outbox", "run_notify"]
