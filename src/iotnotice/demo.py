"""The whole loop on embedded defaults: simulate -> ingest -> detect -> cases -> notify -> summary.

`iotnotice demo` calls :func:`run_demo`, then serves the web UI. Tests call it directly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from iotnotice.capture.simulate import SimulationResult, simulate
from iotnotice.cases.manage import CaseSummary, update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import OperatorUser, Sensor
from iotnotice.detect import DetectionSummary, run_detection
from iotnotice.enrich.registry import import_registry, load_registry
from iotnotice.notify import NotifySummary, run_notify
from iotnotice.settings import Settings
from iotnotice.store.ingest import IngestResult, ingest_files
from iotnotice.store.sensors import add_sensor
from iotnotice.web.accounts import create_operator

__all__ = ["DEMO_DARKNET", "DEMO_SENSOR", "DemoResult", "ensure_demo_operator", "run_demo"]

DEMO_SENSOR = "demo"
DEMO_DARKNET = "203.0.113.0/24"


@dataclass
class DemoResult:
    """What each stage of the demo produced."""

    capture: Path
    truth: Path
    simulation: SimulationResult
    ingest: list[IngestResult]
    detection: DetectionSummary
    cases: CaseSummary
    notify: NotifySummary
    operator_file: Path


def _ensure_sensor(engine: Engine) -> None:
    with session_scope(engine) as session:
        exists = session.scalar(select(Sensor.id).where(Sensor.name == DEMO_SENSOR))
    if exists is None:
        add_sensor(engine, DEMO_SENSOR, [DEMO_DARKNET])


def ensure_demo_operator(settings: Settings, engine: Engine) -> Path:
    """Create an 'admin' console account with a random password when none exists.

    The password is written once to DATA_DIR/demo-operator.txt (mode 0600), never a fixed default.
    """
    path = settings.data_path / "demo-operator.txt"
    with session_scope(engine) as session:
        accounts = session.scalar(select(func.count()).select_from(OperatorUser)) or 0
    if accounts == 0:
        password = secrets.token_urlsafe(12)
        create_operator(engine, "admin", password, "admin")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"user: admin\npassword: {password}\n")
    return path


def run_demo(
    settings: Settings,
    engine: Engine,
    *,
    packets: int = 1_000_000,
    seed: int = 2019,
    step: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    """Run every stage once; idempotent (a second run ingests nothing new)."""
    sample = settings.data_path / "sample"
    sample.mkdir(parents=True, exist_ok=True)
    capture, truth = sample / "darknet-sample.pcap", sample / "darknet-sample-truth.csv"
    step(f"simulating {packets:,} darknet packets -> {capture}")
    sim = simulate(capture, truth, packets=packets, seed=seed, darknet=(DEMO_DARKNET,))
    step(f"registering sensor {DEMO_SENSOR!r} ({DEMO_DARKNET}) and the ISP registry")
    _ensure_sensor(engine)
    import_registry(engine, load_registry(settings))
    step("ingesting the capture into the flow store")
    ingested = ingest_files(settings, engine, [capture], sensor=DEMO_SENSOR)
    step("detecting infected hosts")
    detection = run_detection(settings, engine)
    step("opening cases")
    cases = update_cases(settings, engine, actor="demo")
    step(f"writing ISP reports to {settings.outbox_path}")
    notified = run_notify(settings, engine)
    operator = ensure_demo_operator(settings, engine)
    return DemoResult(capture, truth, sim, ingested, detection, cases, notified, operator)
