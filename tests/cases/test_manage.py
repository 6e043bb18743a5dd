"""update_cases: open, extend, reinfection, expiry, notice-ID allocation; transitions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from iotnotice.cases import IllegalTransition, is_valid, transition, update_cases
from iotnotice.db import session_scope
from iotnotice.db.models import Case, CaseEvent, DetectedHost
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # the hosts fixture's default sighting time

PutHost = Callable[..., None]


def _cases(engine: Engine) -> list[Case]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def test_infected_host_opens_one_case(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """Each infected host opens a case with its ISP and a valid notice ID; others do not."""
    put_host("192.0.2.10")
    put_host("192.0.2.11", classification="backscatter")
    put_host("192.0.2.12", isp=None)
    summary = update_cases(settings, engine)
    assert summary.opened == 2
    cases = _cases(engine)
    assert [c.ip for c in cases] == ["192.0.2.10", "192.0.2.12"]
    assert cases[0].isp_id is not None and cases[1].isp_id is None
    assert all(is_valid(c.notice_id) and c.status == "new" for c in cases)
    assert cases[0].family == "mirai" and cases[0].ports == "23/tcp,2323/tcp"
    with session_scope(engine) as session:
        events = session.scalars(select(CaseEvent)).all()
        assert [(e.actor, e.to_status) for e in events] == [("detect", "new"), ("detect", "new")]


def test_later_observation_extends_case(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """A later sighting of an open case's host extends it instead of opening another."""
    put_host("192.0.2.10")
    update_cases(settings, engine)
    again = update_cases(settings, engine)
    assert (again.opened, again.extended, again.unchanged) == (0, 0, 1)
    put_host("192.0.2.10", last=T0 + timedelta(hours=5), packets=50)
    summary = update_cases(settings, engine)
    assert (summary.opened, summary.extended) == (0, 1)
    (case,) = _cases(engine)
    assert case.packets == 50
    assert case.last_seen.replace(tzinfo=None) == (T0 + timedelta(hours=5)).replace(tzinfo=None)


def test_reinfection_after_resolved(settings: Settings, engine: Engine, put_host: PutHost) -> None:
    """A host seen after its case was resolved opens a new case pointing at the old one."""
    put_host("192.0.2.10")
    update_cases(settings, engine, now=T0)
    with session_scope(engine) as session:
        case = session.scalars(select(Case)).one()
        transition(session, case, "notified", "notify", at=T0)
        transition(session, case, "resolved", "isp:alpha-net", "cleaned", at=T0 + timedelta(days=1))
    # Traffic captured before the resolution is not a reinfection.
    put_host("192.0.2.10", last=T0 + timedelta(hours=12), packets=20)
    assert update_cases(settings, engine, now=T0 + timedelta(days=1)).reinfections == 0
    put_host("192.0.2.10", first=T0 + timedelta(days=3), last=T0 + timedelta(days=3), packets=5)
    summary = update_cases(settings, engine, now=T0 + timedelta(days=3))
    assert (summary.reinfections, summary.opened) == (1, 1)
    old, new = _cases(engine)
    assert old.status == "reinfected"
    assert new.status == "new" and new.reinfection_of == old.id
    assert new.notice_id != old.notice_id


def test_expiry_uses_capture_time(settings: Settings, engine: Engine, put_host: PutHost) -> None:
    """Open cases expire when the telescope saw traffic for N days without their host."""
    put_host("192.0.2.10")
    put_host("192.0.2.20", classification="scanner", last=T0 + timedelta(days=29))
    assert update_cases(settings, engine).expired == 0
    put_host("192.0.2.20", classification="scanner", last=T0 + timedelta(days=31))
    summary = update_cases(settings, engine)
    assert summary.expired == 1
    (case,) = _cases(engine)
    assert case.status == "expired"
    # Seen again after expiry: reopened as a reinfection.
    put_host("192.0.2.10", first=T0 + timedelta(days=40), last=T0 + timedelta(days=40))
    assert update_cases(settings, engine).reinfections == 1


def test_notice_id_collision_is_retried(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """An ID already in the database is never handed out again."""
    put_host("192.0.2.10")
    update_cases(settings, engine)
    (first,) = _cases(engine)
    put_host("192.0.2.11")
    fixed = "0000-0000-0001-1"
    ids: Iterator[str] = itertools.chain([first.notice_id], itertools.repeat(fixed))
    update_cases(settings, engine, id_factory=lambda: next(ids))
    assert [c.notice_id for c in _cases(engine)] == [first.notice_id, fixed]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), "acknowledged2"),
        ((), "reinfected"),
        (("notified", "resolved"), "notified"),
        (("expired",), "new"),
    ],
)
def test_illegal_transitions_rejected(
    settings: Settings, engine: Engine, put_host: PutHost, path: tuple[str, ...], bad: str
) -> None:
    """Moves the lifecycle does not allow raise IllegalTransition and change nothing."""
    put_host("192.0.2.10")
    update_cases(settings, engine)
    with session_scope(engine) as session:
        case = session.scalars(select(Case)).one()
        for step in path:
            transition(session, case, step, "operator")
        before = case.status
        with pytest.raises(IllegalTransition, match=r"cannot go|unknown case status"):
            transition(session, case, bad, "operator")
        assert case.status == before


def test_transition_records_actor_and_note(
    settings: Settings, engine: Engine, put_host: PutHost
) -> None:
    """Every status change is an event with its actor, note and previous status."""
    put_host("192.0.2.10")
    update_cases(settings, engine)
    with session_scope(engine) as session:
        case = session.scalars(select(Case)).one()
        transition(session, case, "acknowledged", "isp:alpha-net", "ticket 42")
    with session_scope(engine) as session:
        last = session.scalars(select(CaseEvent).order_by(CaseEvent.id.desc())).first()
        assert last is not None
        assert (last.actor, last.from_status, last.to_status, last.note) == (
            "isp:alpha-net",
            "new",
            "acknowledged",
            "ticket 42",
        )


def test_dry_run_opens_nothing(settings: Settings, engine: Engine, put_host: PutHost) -> None:
    """update_cases(dry_run=True) reports what it would do and leaves the table unchanged."""
    put_host("192.0.2.10")
    put_host("192.0.2.11")
    assert update_cases(settings, engine, dry_run=True).opened == 2
    assert _cases(engine) == []
    assert update_cases(settings, engine).opened == 2


def test_issued_ids_are_not_biased(settings: Settings, engine: Engine) -> None:
    """IDs handed out in a batch keep their randomness: first symbols spread over the alphabet."""
    with session_scope(engine) as session:
        for i in range(300):
            session.add(
                DetectedHost(
                    ip=f"10.0.{i // 250}.{i % 250}",
                    classification="infected",
                    family="mirai",
                    confidence=0.9,
                    first_seen=T0,
                    last_seen=T0,
                    packets=5,
                    ports="23/tcp",
                    evidence={},
                )
            )
    update_cases(settings, engine)
    firsts = {c.notice_id[0] for c in _cases(engine)}
    assert len(firsts) >= 24  # 300 uniform draws from 32 symbols miss fewer than one on average
