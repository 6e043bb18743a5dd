"""The coordinator's ISP API, from the ISP's side: pull reports, send case status back.

Paths (relative to ``settings.isp_coordinator_url``), bearer token ``isp_coordinator_token``:

=========================================  ====================================================
``GET  /api/isp/v1/reports``               list of ``{id, period, format, filename, ...}``
``GET  /api/isp/v1/reports/{id}/file``     one report file (CSV, JSON or X-ARF)
``POST /api/isp/v1/cases/{notice}/status``  ``{"status": ..., "note": ...}``
=========================================  ====================================================

Pulling resumes where it left off: the highest report ID imported is kept in ``isp_state``.
Per period it takes one format (JSON, else CSV, else X-ARF) since they hold the same cases.

Privacy: what leaves is the notice ID (in the path), a status word and a fixed note. Requests
are built only by :func:`_status_body` from those two values; no subscriber identity, address
or log content is ever read into a request.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine, select

from iotnotice.db.engine import session_scope
from iotnotice.db.models import IspState, IspStatusUpdate, utcnow
from iotnotice.errors import ConfigError, DeliveryError
from iotnotice.isp.reports import ImportSummary, import_reports
from iotnotice.settings import Settings

if TYPE_CHECKING:
    import httpx

__all__ = [
    "API_PATHS",
    "WIRE_STATUS",
    "PullSummary",
    "PushSummary",
    "pull_reports",
    "push_status",
    "sync_every",
]

API_PATHS = {
    "reports": "/api/isp/v1/reports",
    "report_file": "/api/isp/v1/reports/{id}/file",
    "status": "/api/isp/v1/cases/{notice_id}/status",
}
WIRE_STATUS = {
    "acknowledged": ("acknowledged", ""),
    "subscriber_alerted": ("subscriber_alerted", ""),
    "quarantined": ("quarantined", ""),
    "resolved": ("resolved", ""),
    "not_ours": ("not_ours", ""),
}
_PREFERENCE = ("json", "csv", "xarf")
_CURSOR = "pull_last_report_id"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _httpx() -> Any:
    """httpx (a dependency), imported on first use so that importing iotnotice.isp stays quick."""
    import httpx

    return httpx


def _client(settings: Settings) -> httpx.Client:
    base = str(settings.isp_coordinator_url).rstrip("/")
    if not base:
        raise ConfigError("isp_coordinator_url is not set")
    if not settings.isp_coordinator_token:
        raise ConfigError("isp_coordinator_token is not set")
    return _httpx().Client(
        base_url=base,
        headers={"Authorization": f"Bearer {settings.isp_coordinator_token}"},
        timeout=float(settings.isp_coordinator_timeout),
        follow_redirects=False,
    )


def _get(client: httpx.Client, path: str) -> httpx.Response:
    try:
        response = client.get(path)
    except _httpx().HTTPError as exc:
        raise DeliveryError(f"coordinator {client.base_url}{path}: {exc}") from None
    if response.status_code != 200:
        raise DeliveryError(f"coordinator {path}: HTTP {response.status_code}")
    return response


@dataclass
class PullSummary:
    """Reports fetched, and what importing them did."""

    fetched: list[Path] = field(default_factory=list)
    imported: ImportSummary = field(default_factory=ImportSummary)


def _cursor(engine: Engine) -> int:
    with session_scope(engine) as session:
        state = session.get(IspState, _CURSOR)
        return int(state.value) if state and state.value else 0


def _set_cursor(engine: Engine, value: int) -> None:
    with session_scope(engine) as session:
        state = session.get(IspState, _CURSOR) or IspState(name=_CURSOR)
        state.value = str(value)
        session.add(state)


def _choose(listing: list[dict[str, Any]], after: int) -> list[list[dict[str, Any]]]:
    """New reports, one format per period (all files of that format: X-ARF is one per case)."""
    by_period: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in listing:
        if int(item["id"]) > after and item.get("format") in _PREFERENCE:
            by_period[str(item.get("period", ""))].append(item)
    chosen = []
    for items in by_period.values():
        fmt = next(f for f in _PREFERENCE if any(i["format"] == f for i in items))
        chosen.append([i for i in items if i["format"] == fmt])
    return chosen


def pull_reports(settings: Settings, engine: Engine) -> PullSummary:
    """Fetch reports newer than the last pull, keep them under ``isp/pulled/``, import them."""
    summary = PullSummary()
    folder = settings.data_path / "isp" / "pulled"
    folder.mkdir(parents=True, exist_ok=True)
    after = _cursor(engine)
    with _client(settings) as client:
        listing = _get(client, API_PATHS["reports"]).json()
        if not isinstance(listing, list):
            raise DeliveryError("coordinator report list is not a JSON list")
        highest = max([after, *(int(i["id"]) for i in listing)])
        for group in _choose(listing, after):
            for item in group:
                body = _get(client, API_PATHS["report_file"].format(id=int(item["id"]))).content
                name = _SAFE_NAME.sub("_", f"{int(item['id']):06d}-{item.get('filename', '')}")
                path = folder / name
                path.write_bytes(body)
                summary.fetched.append(path)
    if summary.fetched:
        summary.imported = import_reports(engine, summary.fetched)
    _set_cursor(engine, highest)
    return summary


@dataclass
class PushSummary:
    """Status updates sent and those that failed (kept for the next push)."""

    sent: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # notice, status, error


def _status_body(status: str) -> dict[str, str]:
    """The whole request body of a status update: the status word and a fixed note."""
    wire, note = WIRE_STATUS[status]
    return {"status": wire, "note": note}


def push_status(settings: Settings, engine: Engine) -> PushSummary:
    """Send every queued status update to the coordinator, oldest first."""
    summary = PushSummary()
    with session_scope(engine) as session, _client(settings) as client:
        pending = session.scalars(
            select(IspStatusUpdate)
            .where(IspStatusUpdate.state.in_(("pending", "failed")))
            .order_by(IspStatusUpdate.id)
        )
        for update in pending:
            path = API_PATHS["status"].format(notice_id=quote(update.notice_id, safe=""))
            try:
                response = client.post(
                    path,
                    content=json.dumps(_status_body(update.status)),
                    headers={"Content-Type": "application/json"},
                )
                code = response.status_code
                error = "" if code == 200 else f"HTTP {code}: {response.text[:200]}"
                # A refusal (unknown notice, illegal transition) will not change on a retry.
                final = 400 <= code < 500 and code not in (408, 429)
            except _httpx().HTTPError as exc:
                error, final = str(exc) or exc.__class__.__name__, False
            update.state = ("rejected" if final else "failed") if error else "sent"
            update.error = error
            if error:
                summary.failed.append((update.notice_id, update.status, error))
            else:
                update.sent_at = utcnow()
                summary.sent += 1
    return summary


def sync_every(
    settings: Settings,
    engine: Engine,
    seconds: float,
    rounds: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[PullSummary, PushSummary], None] | None = None,
) -> int:
    """Pull reports and push statuses every ``seconds`` (forever, or ``rounds`` times).

    A round that cannot reach the coordinator is reported and retried at the next round; the
    pull cursor and the status queue make every round resume where the last one stopped.
    """
    done = 0
    while rounds is None or done < rounds:
        if done:
            sleep(seconds)
        try:
            pulled, pushed = pull_reports(settings, engine), push_status(settings, engine)
        except DeliveryError as exc:
            pulled, pushed = PullSummary(), PushSummary(failed=[("", "", str(exc))])
        if report is not None:
            report(pulled, pushed)
        done += 1
    return done
