"""Walled garden: hold infected subscribers, export them for the network, release them.

The walled garden is the intervention with the best measured result (Çetin et al., NDSS 2019:
about 92% of Mirai-infected customers clean within 14 days). Exports:

- ``nft``: an ``nft -f`` file that (re)fills the set ``inet iotnotice <isp_quarantine_set>``;
- ``ipset``: an ``ipset restore`` file for a ``hash:ip`` set of the same name;
- ``radius``: FreeRADIUS ``users`` entries giving each held subscriber
  ``Filter-Id := <isp_quarantine_filter_id>`` (applied at the next login or CoA).

The address lists hold each held subscriber's *current* addresses from the loaded logs (the
address of the report may have been reassigned since); a subscriber with no current address is
listed in the export's comments and reached by the RADIUS entry when they next connect.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session

from iotnotice.db.engine import session_scope
from iotnotice.db.models import IspCase, IspQuarantine, utcnow
from iotnotice.errors import ConfigError, NotFoundError
from iotnotice.isp.casework import set_status
from iotnotice.isp.logs import load_intervals, u32_to_ipv4
from iotnotice.settings import Settings

__all__ = [
    "FORMATS",
    "QuarantineExport",
    "export_quarantine",
    "held",
    "quarantine_cases",
    "release",
    "release_resolved",
]

FORMATS = ("nft", "ipset", "radius")


def quarantine_cases(engine: Engine, case_ids: Sequence[int] = ()) -> list[str]:
    """Hold the subscribers of matched cases (all alerted ones if no IDs); returns subscribers."""
    with session_scope(engine) as session:
        query = select(IspCase).where(IspCase.match_status == "matched")
        if case_ids:
            query = query.where(IspCase.id.in_(list(case_ids)))
        else:
            query = query.where(IspCase.status == "subscriber_alerted")
        cases = list(session.scalars(query))
        if case_ids and len(cases) != len(set(case_ids)):
            raise NotFoundError("some case IDs do not exist or have no matched subscriber")
        active = {q.subscriber for q in session.scalars(_active())}
        for case in cases:
            if case.subscriber and case.subscriber not in active:
                session.add(IspQuarantine(subscriber=case.subscriber, ip=case.ip, case_id=case.id))
                active.add(case.subscriber)
            set_status(session, case, "quarantined", "walled garden")
        return sorted({c.subscriber for c in cases if c.subscriber})


def _active() -> Select[IspQuarantine]:
    return select(IspQuarantine).where(IspQuarantine.state == "active")


def held(engine: Engine) -> list[IspQuarantine]:
    """Subscribers currently in the walled garden."""
    with session_scope(engine) as session:
        return list(session.scalars(_active().order_by(IspQuarantine.id)))


def _release(entry: IspQuarantine, reason: str) -> None:
    entry.state, entry.released_at, entry.release_reason = "released", utcnow(), reason


def release(engine: Engine, subscriber: str, reason: str = "on request") -> int:
    """Release a subscriber from the walled garden; returns entries released."""
    with session_scope(engine) as session:
        entries = list(session.scalars(_active().where(IspQuarantine.subscriber == subscriber)))
        if not entries:
            raise NotFoundError(f"subscriber {subscriber!r} is not in the walled garden")
        for entry in entries:
            _release(entry, reason)
        return len(entries)


def release_resolved(session: Session) -> int:
    """Release subscribers whose every case is resolved (remediation observed)."""
    released = 0
    for entry in session.scalars(_active()):
        statuses = set(
            session.scalars(select(IspCase.status).where(IspCase.subscriber == entry.subscriber))
        )
        if statuses and statuses <= {"resolved", "not_ours"}:
            _release(entry, "remediation observed (all cases resolved)")
            released += 1
    return released


@dataclass
class QuarantineExport:
    """An export file's text, the addresses in it and the subscribers without one."""

    text: str
    addresses: list[str] = field(default_factory=list)
    no_address: list[str] = field(default_factory=list)


def current_addresses(
    intervals: pa.Table, subscribers: Sequence[str], now: int
) -> dict[str, list[str]]:
    """Addresses each subscriber holds at ``now`` according to the loaded logs (not CGNAT)."""
    live = pc.and_(
        pc.and_(pc.less_equal(intervals["start"], now), pc.greater(intervals["end"], now)),
        pc.and_(
            pc.less(intervals["port_lo"], 0),
            pc.is_in(intervals["subscriber"], pa.array(list(subscribers), pa.string())),
        ),
    )
    rows = intervals.filter(live)
    ips = u32_to_ipv4(rows["ip"].to_numpy())
    out: dict[str, list[str]] = {s: [] for s in subscribers}
    for sub, ip in zip(rows["subscriber"].to_pylist(), ips, strict=True):
        if ip not in out[sub]:
            out[sub].append(ip)
    return out


def export_quarantine(
    settings: Settings, engine: Engine, fmt: str, now: int | None = None
) -> QuarantineExport:
    """The walled-garden list in one format (see the module docstring)."""
    if fmt not in FORMATS:
        raise ConfigError(f"quarantine export format {fmt!r} is not one of {', '.join(FORMATS)}")
    subscribers = sorted({q.subscriber for q in held(engine)})
    if fmt == "radius":
        return QuarantineExport(_radius(settings, subscribers))
    at = int(time.time()) if now is None else now
    addresses = current_addresses(load_intervals(settings), subscribers, at)
    flat = sorted({ip for ips in addresses.values() for ip in ips}, key=_ip_key)
    missing = [s for s, ips in addresses.items() if not ips]
    text = _nft(settings, flat, missing) if fmt == "nft" else _ipset(settings, flat, missing)
    return QuarantineExport(text, flat, missing)


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ip.split("."))


def _header(missing: Sequence[str]) -> str:
    lines = [f"# iotnotice walled garden, generated {utcnow():%Y-%m-%dT%H:%M:%SZ}"]
    if missing:
        lines.append(f"# {len(missing)} held subscriber(s) with no current address")
    return "\n".join(lines) + "\n"


def _nft(settings: Settings, addresses: Sequence[str], missing: Sequence[str]) -> str:
    name = settings.isp_quarantine_set
    text = _header(missing)
    text += f"table inet iotnotice {{\n\tset {name} {{\n\t\ttype ipv4_addr\n\t}}\n}}\n"
    text += f"flush set inet iotnotice {name}\n"
    if addresses:
        text += f"add element inet iotnotice {name} {{ {', '.join(addresses)} }}\n"
    return text


def _ipset(settings: Settings, addresses: Sequence[str], missing: Sequence[str]) -> str:
    name = settings.isp_quarantine_set
    lines = [f"create {name} hash:ip family inet -exist", f"flush {name}"]
    lines += [f"add {name} {ip}" for ip in addresses]
    return _header(missing) + "\n".join(lines) + "\n"


def _radius(settings: Settings, subscribers: Sequence[str]) -> str:
    filter_id = str(settings.isp_quarantine_filter_id).replace('"', "")
    entries = [
        f'"{_quote(s)}"\n\tFilter-Id := "{filter_id}",\n\tFall-Through = Yes\n' for s in subscribers
    ]
    return _header(()) + "\n".join(entries)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
