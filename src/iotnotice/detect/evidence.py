"""Evidence records: why a source got its class, in JSON a reviewer can read."""

from __future__ import annotations

from typing import Any

import numpy as np

from iotnotice.detect.features import Features

__all__ = ["COUNTERS", "evidence_for", "summary_line"]

COUNTERS = (
    "packets",
    "flow_rows",
    "destinations",
    "dst_ports",
    "syn_pkts",
    "syn_noopt",
    "resp_pkts",
    "synack_pkts",
    "rst_pkts",
    "icmp_err_pkts",
    "dns_resp_pkts",
    "tcp_pkts",
    "udp_pkts",
    "icmp_pkts",
    "mirai_cnt",
    "mirai_dsts",
    "masscan_cnt",
    "zmap_cnt",
    "spoofed_cnt",
    "quirk_cnt",
    "iot_syn",
    "iot_dsts",
    "resp_window_max",
)

_REASONS = {
    "research-list": "source is in the research-network list",
    "spoofed": "source address looks spoofed (corsaro heuristics or reserved space)",
    "backscatter": "mostly responses (SYN-ACK/RST/ICMP/DNS): victim of a spoofed flood",
    "mirai-fingerprint": "SYNs with TCP sequence number == destination address (Mirai)",
    "tool-fingerprint": "packets carry a scanning tool's fingerprint",
    "iot-headers": "SYNs to IoT ports without TCP options, initial TTL 64, no tool fingerprint",
    "high-fanout": "many darknet destinations without IoT-bot traits",
    "default": "no rule matched",
}


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evidence_for(f: Features, i: int, rule: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The evidence record of source ``i``."""
    cols = f.columns
    return {
        "rule": rule,
        "reason": _REASONS.get(rule, rule),
        "counts": {name: int(cols[name][i]) for name in COUNTERS},
        "ttl": {
            "mode": int(cols["ttl_mode"][i]),
            "initial": int(cols["initial_ttl"][i]),
            "hops": int(cols["hops"][i]),
        },
        "syn_without_options_share": round(float(cols["syn_noopt_share"][i]), 4),
        "top_ports": cols["top_ports"][i],
        "mirai_ports": cols["mirai_ports"][i],
        "active_seconds": int(cols["active_seconds"][i]),
        "scan_rate_pps": round(float(cols["scan_rate"][i]), 1),
        "monitored_addresses": f.monitored_addresses,
        "sample": {k: _py(v) for k, v in (cols["sample"][i] or {}).items()},
        **extra,
    }


def summary_line(evidence: dict[str, Any]) -> str:
    """One line for tables: rule and the counts that made it fire."""
    c = evidence.get("counts", {})
    rule = evidence.get("rule", "?")
    if rule == "mirai-fingerprint":
        return f"{rule}: {c.get('mirai_cnt')} Mirai SYNs to {c.get('mirai_dsts')} addresses"
    if rule == "iot-headers":
        return f"{rule}: {c.get('iot_syn')} IoT-port SYNs to {c.get('iot_dsts')} addresses"
    if rule == "backscatter":
        return f"{rule}: {c.get('resp_pkts')} responses, max {c.get('resp_window_max')}/interval"
    if rule == "research-list":
        return f"{rule}: {evidence.get('research', {}).get('organisation', '')}"
    return f"{rule}: {c.get('packets')} packets to {c.get('destinations')} addresses"
