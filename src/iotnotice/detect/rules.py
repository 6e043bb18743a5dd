"""Classification rules: per-source features -> class, family, confidence, rule name.

Rules are checked in this order; the first that holds decides (all thresholds are settings):

1. ``research`` — the source is in the research-network list (prefix or ASN). Listed
   organisations announce their scanning; they are never notified. Confidence 1.0.
2. ``noise``/``spoofed`` — at least ``spoofed_min_percent`` % of its packets carry corsaro's
   spoofing flag, or the address is private/reserved space. A forged source says nothing about
   the device that owns the address, so it is never called infected. Confidence 0.9.
3. ``backscatter`` — most packets are responses (SYN-ACK, RST, ICMP errors/echo replies, DNS
   responses): the sender is the victim of a spoofed-source flood. With corsaro dos's attack
   test (>= ``backscatter_min_packets`` packets, >= ``backscatter_min_seconds`` between first
   and last interval, >= ``backscatter_window_packets`` in one flow interval — a tumbling
   window of ``flow_interval`` s, which never exceeds corsaro's sliding 60 s count) the
   confidence is 0.95, else 0.7 (a victim's trickle, still never infected).
4. ``infected``/``mirai`` — at least ``mirai_min_packets`` SYNs whose TCP sequence number equals
   the destination address. An unrelated SYN matches by chance with p = 2^-32 per packet, so
   even a large telescope (10^10 SYNs a year) sees a few chance matches in total, but the same
   source matching k times by chance has p ~ 2^-32k: k = 3 (the default) makes a false
   positive practically impossible, while a bot reaching a /24 at Mirai's scan rate
   exceeds it within minutes. Ports are recorded as family detail (23/2323 telnet; 37215,
   52869, 5555, 7547, 60001, 8080, 81 ... for exploit-spreading variants), not required.
   Confidence 0.999 when the headers also look bot-made (>= 90 % SYNs without options,
   initial TTL 64), else 0.99.
5. ``scanner``/``masscan`` or ``zmap`` — at least ``tool_min_percent`` % of packets carry a
   scanning tool's fingerprint. ZMap >= 4.1 randomises the IP ID, so it falls to rule 7.
   Confidence 0.9.
6. ``infected``/``iot-unknown`` — not a tool by rule 5 (a stray Masscan match is expected: its
   16-bit IP ID test matches one packet in 65,536 by chance), >= ``iot_min_packets`` SYNs to IoT
   ports (``iot_ports``) without TCP options and with initial TTL 64 (bot-like raw-socket headers),
   reaching >= ``iot_min_destinations`` darknet addresses, and these SYNs are at least half the
   source's packets. Confidence 0.6-0.9, growing with the evidence; always below ``mirai``.
7. ``scanner``/``unknown`` — >= ``scanner_min_destinations`` distinct destinations without the
   IoT traits above. Confidence 0.7.
8. ``noise`` — everything else. Confidence 0.5.

Confidence is a rule-assigned score in [0, 1]: the reviewer's belief that the class is right
given which rule fired and how strong its evidence is. It is ordered (a higher value never
rests on weaker evidence) but is not a statistically calibrated probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iotnotice.detect.features import Features
from iotnotice.settings import Settings

__all__ = ["Classification", "classify"]


@dataclass(frozen=True)
class Classification:
    """Per-source result columns (object arrays for text, float64 confidence)."""

    classification: np.ndarray
    family: np.ndarray
    confidence: np.ndarray
    rule: np.ndarray


def _pct(part: np.ndarray, whole: np.ndarray, percent: int) -> np.ndarray:
    return (part.astype(np.float64) * 100.0 >= whole.astype(np.float64) * percent) & (part > 0)


def classify(
    f: Features, settings: Settings, research: np.ndarray, reserved: np.ndarray
) -> Classification:
    """Apply the rules above to every source at once."""
    packets = f["packets"]
    tools = f["masscan_cnt"] + f["zmap_cnt"]
    is_research = research >= 0
    is_spoofed = _pct(f["spoofed_cnt"], packets, settings.spoofed_min_percent) | reserved
    is_backscatter = f["resp_pkts"] * 2 > packets
    dos = (
        (f["resp_pkts"] >= settings.backscatter_min_packets)
        & (f["last_seen"] - f["first_seen"] >= settings.backscatter_min_seconds)
        & (f["resp_window_max"] >= settings.backscatter_window_packets)
    )
    is_mirai = f["mirai_cnt"] >= settings.mirai_min_packets
    botlike = (f["syn_noopt_share"] >= 0.9) & (f["initial_ttl"] == 64)
    is_tool = _pct(tools, packets, settings.tool_min_percent)
    is_iot = (
        (f["iot_syn"] >= settings.iot_min_packets)
        & (f["iot_dsts"] >= settings.iot_min_destinations)
        & ~is_tool
        & (f["iot_syn"] * 2 >= packets)
    )
    is_scanner = f["destinations"] >= settings.scanner_min_destinations
    conds = [is_research, is_spoofed, is_backscatter, is_mirai, is_tool, is_iot, is_scanner]
    classes = ["research", "noise", "backscatter", "infected", "scanner", "infected", "scanner"]
    rules = [
        "research-list",
        "spoofed",
        "backscatter",
        "mirai-fingerprint",
        "tool-fingerprint",
        "iot-headers",
        "high-fanout",
    ]
    iot_strength = np.minimum(1.0, f["iot_syn"] / (4.0 * max(settings.iot_min_packets, 1)))
    confidence = np.select(
        conds,
        [
            1.0,
            0.9,
            np.where(dos, 0.95, 0.7),
            np.where(botlike, 0.999, 0.99),
            0.9,
            0.6 + 0.3 * iot_strength,
            0.7,
        ],
        0.5,
    )
    family = np.select(
        conds,
        [
            np.zeros(len(f), dtype=object),  # filled with the organisation by the caller
            "spoofed",
            _backscatter_family(f),
            "mirai",
            np.where(f["masscan_cnt"] >= f["zmap_cnt"], "masscan", "zmap"),
            "iot-unknown",
            "unknown",
        ],
        _noise_family(f),
    ).astype(object)
    return Classification(
        classification=np.select(conds, classes, "noise").astype(object),
        family=family,
        confidence=confidence.astype(np.float64),
        rule=np.select(conds, rules, "default").astype(object),
    )


def _backscatter_family(f: Features) -> np.ndarray:
    kinds = np.stack([f["synack_pkts"], f["rst_pkts"], f["icmp_err_pkts"], f["dns_resp_pkts"]])
    return np.array(["syn-ack", "rst", "icmp", "dns"], dtype=object)[np.argmax(kinds, axis=0)]


def _noise_family(f: Features) -> np.ndarray:
    kinds = np.stack([f["tcp_pkts"], f["udp_pkts"], f["icmp_pkts"]])
    return np.array(["tcp", "udp", "icmp"], dtype=object)[np.argmax(kinds, axis=0)]
