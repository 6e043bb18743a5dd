"""Honeypot evidence: Cowrie logs -> sessions -> verdicts -> rows of the ``hosts`` table.

parse_cowrie_file       one JSON log -> sessions, damaged lines counted (cowrie.py)
judge                   one session -> infected | suspicious | clean + confidence (rules.py)
import_cowrie_logs      files -> honeypot_sessions table, idempotent per session (store.py)
honeypot_verdicts       per-source verdicts with evidence (store.py)
merge_into_hosts        verdicts -> hosts table (merge.py)
"""

from __future__ import annotations

from iotnotice.honeypot.cowrie import CowrieSession, FileParse, parse_cowrie_file
from iotnotice.honeypot.credentials import Credential, check, iot_default, mirai_credentials
from iotnotice.honeypot.merge import MergeSummary, merge_into_hosts
from iotnotice.honeypot.rules import Verdict, judge
from iotnotice.honeypot.store import (
    FileImport,
    HoneypotImportSummary,
    HoneypotVerdict,
    honeypot_verdicts,
    import_cowrie_logs,
)

__all__ = [
    "CowrieSession",
    "Credential",
    "FileImport",
    "FileParse",
    "HoneypotImportSummary",
    "HoneypotVerdict",
    "MergeSummary",
    "Verdict",
    "check",
    "honeypot_verdicts",
    "import_cowrie_logs",
    "iot_default",
    "judge",
    "merge_into_hosts",
    "mirai_credentials",
    "parse_cowrie_file",
]
