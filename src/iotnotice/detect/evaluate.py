"""Precision and recall per class against the simulator's ground-truth CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost
from iotnotice.errors import InputError

__all__ = ["evaluate"]

# The simulator's 'spoofed' sources are expected in class 'noise' (family 'spoofed').
_TRUTH_TO_CLASS = {"spoofed": "noise"}


def _read_truth(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(path, "truth file not found")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"ip", "label"} <= set(reader.fieldnames):
            raise InputError(path, "truth CSV needs columns ip,label")
        return {r["ip"]: _TRUTH_TO_CLASS.get(r["label"], r["label"]) for r in reader}


def evaluate(engine: Engine, truth_path: Path) -> dict[str, dict[str, float]]:
    """Per class: truth/predicted/correct counts, precision and recall (sources in both)."""
    truth = _read_truth(truth_path)
    with session_scope(engine) as session:
        rows = session.execute(select(DetectedHost.ip, DetectedHost.classification))
        predicted = {ip: cls for ip, cls in rows}
    common = truth.keys() & predicted.keys()
    out: dict[str, dict[str, float]] = {}
    for name in sorted(set(truth.values()) | set(predicted.values())):
        t = {ip for ip in common if truth[ip] == name}
        p = {ip for ip in common if predicted[ip] == name}
        correct = len(t & p)
        out[name] = {
            "truth": len(t),
            "predicted": len(p),
            "correct": correct,
            "precision": correct / len(p) if p else 1.0,
            "recall": correct / len(t) if t else 1.0,
        }
    return out
