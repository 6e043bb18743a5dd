"""Walled garden: hold subscribers, export nftables/ipset/RADIUS files, release them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from isp_helpers import NOTICE_A, T0, build_scenario
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import IspCase, IspQuarantine
from iotnotice.errors import NotFoundError
from iotnotice.isp.casework import set_status_by_notice
from iotnotice.isp.quarantine import export_quarantine, held, quarantine_cases, release
from iotnotice.settings import Settings

NOW = int(T0.timestamp()) + 600


def test_hold_and_export(files: Path, settings: Settings, engine: Engine) -> None:
    """Held subscribers appear with their current address in nft and ipset, by name in RADIUS."""
    build_scenario(files, settings, engine)
    with session_scope(engine) as session:
        alice = session.scalars(select(IspCase).where(IspCase.subscriber == "alice")).one()
    assert quarantine_cases(engine, [alice.id]) == ["alice"]
    assert quarantine_cases(engine, [alice.id]) == ["alice"]  # holding twice adds nothing
    assert [q.subscriber for q in held(engine)] == ["alice"]
    open_ended = settings.replace(isp_radius_timeout=0)
    nft = export_quarantine(open_ended, engine, "nft", now=NOW)
    assert nft.addresses == ["198.51.100.10"]
    assert "set iotnotice_quarantine {\n\t\ttype ipv4_addr" in nft.text
    assert "add element inet iotnotice iotnotice_quarantine { 198.51.100.10 }" in nft.text
    ipset = export_quarantine(open_ended, engine, "ipset", now=NOW).text
    assert (
        "create iotnotice_quarantine hash:ip family inet -exist\nflush iotnotice_quarantine\n"
        in ipset
    )
    assert "add iotnotice_quarantine 198.51.100.10\n" in ipset
    radius = export_quarantine(open_ended, engine, "radius").text
    assert '"alice"\n\tFilter-Id := "walled-garden",\n\tFall-Through = Yes\n' in radius
    assert "bob" not in radius
    with session_scope(engine) as session:
        assert session.get(IspCase, alice.id).status == "quarantined"  # type: ignore[union-attr]


def test_subscriber_without_current_address(
    files: Path, settings: Settings, engine: Engine
) -> None:
    """A held subscriber whose session has ended is not exported as an address, but counted."""
    build_scenario(files, settings, engine)
    quarantine_cases(engine, [1])
    later = export_quarantine(settings, engine, "nft", now=int(time.time()))
    assert later.addresses == [] and later.no_address == ["alice"]
    assert "add element" not in later.text


def test_release_on_request_and_after_remediation(
    files: Path, settings: Settings, engine: Engine
) -> None:
    """Release works on request, and automatically once every case of the subscriber resolves."""
    build_scenario(files, settings, engine)
    quarantine_cases(engine, [1, 2])
    assert release(engine, "bob", "called support") == 1
    with pytest.raises(NotFoundError):
        release(engine, "bob")
    set_status_by_notice(engine, NOTICE_A, "resolved", "no longer seen on the darknet")
    assert held(engine) == []
    with session_scope(engine) as session:
        reasons = sorted(q.release_reason for q in session.scalars(select(IspQuarantine)))
    assert reasons == ["called support", "remediation observed (all cases resolved)"]
