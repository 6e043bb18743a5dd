"""Stream-parse Cowrie's JSON log (one object per line) into sessions.

Damaged lines (not JSON, not an object, missing ``eventid``/``session``/``src_ip``, a bad
timestamp or address) are counted per file with their line numbers and skipped; parsing never
stops on them. Files may be plain or gzip-compressed (rotated logs are often compressed).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

__all__ = ["CowrieSession", "FileParse", "parse_cowrie_file"]

# Keep the first few damaged lines per file for the report; the rest are only counted.
MAX_REPORTED_ERRORS = 5


@dataclass
class CowrieSession:
    """Everything one Cowrie session logged: connection, login attempts, commands, downloads."""

    sensor: str
    session: str
    src_ip: str
    start: datetime
    end: datetime
    protocol: str = ""
    src_port: int | None = None
    dst_port: int | None = None
    logins: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FileParse:
    """What one file held: counts, the first damaged lines, and the sessions found."""

    path: Path
    lines: int = 0
    events: int = 0
    ignored: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)
    error: str | None = None
    sessions: dict[tuple[str, str], CowrieSession] = field(default_factory=dict)

    def bad(self, line: int, reason: str) -> None:
        """Count a damaged line and keep its description if it is among the first few."""
        self.bad_lines += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"{self.path}:{line}: {reason}")


class _BadLine(ValueError):
    """A line that is not a usable Cowrie event."""


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _lines(path: Path) -> Iterator[bytes]:
    with _open(path) as fh:
        yield from fh


def _timestamp(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise _BadLine(f"timestamp {value[:40]!r} is not ISO 8601") from None
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    raise _BadLine("missing or non-text timestamp")


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise _BadLine(f"missing or non-text {key!r}")
    return value


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadLine(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(event, dict):
        raise _BadLine("not a JSON object")
    _text(event, "eventid")
    return event


def _port(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _session_for(parse: FileParse, event: dict[str, Any], ts: datetime) -> CowrieSession:
    src_ip = _text(event, "src_ip")
    key = (str(event.get("sensor") or ""), _text(event, "session"))
    session = parse.sessions.get(key)
    if session is None:
        if len(key[0]) > 64 or len(key[1]) > 64:
            raise _BadLine("sensor or session name longer than 64 characters")
        # Validate the address once per session; later events of the session repeat it.
        try:
            src_ip = str(ipaddress.ip_address(src_ip))
        except ValueError:
            raise _BadLine(f"src_ip {src_ip[:45]!r} is not an IP address") from None
        session = CowrieSession(sensor=key[0], session=key[1], src_ip=src_ip, start=ts, end=ts)
        parse.sessions[key] = session
    elif ts < session.start:
        session.start = ts
    elif ts > session.end:
        session.end = ts
    session.protocol = session.protocol or str(event.get("protocol") or "")[:16]
    return session


def _apply(session: CowrieSession, event: dict[str, Any], ts: datetime) -> None:
    """Record the parts of an event the rules look at."""
    eventid = event["eventid"]
    if eventid == "cowrie.session.connect":
        session.src_port = _port(event.get("src_port"))
        session.dst_port = _port(event.get("dst_port"))
    elif eventid in ("cowrie.login.success", "cowrie.login.failed"):
        session.logins.append(
            {
                "ts": ts.isoformat(),
                "username": _opt_text(event.get("username")),
                "password": _opt_text(event.get("password")),
                "success": eventid == "cowrie.login.success",
            }
        )
    elif eventid == "cowrie.command.input" and isinstance(event.get("input"), str):
        session.commands.append({"ts": ts.isoformat(), "input": event["input"]})
    elif eventid.startswith("cowrie.session.file_download") or eventid == (
        "cowrie.session.file_upload"
    ):
        # No URL: an upload (SFTP/SCP, named) or stdin that Cowrie saved (echo/cat droppers).
        filename = _opt_text(event.get("filename"))
        url = _opt_text(event.get("url")) or (f"upload:{filename}" if filename else "stdin")
        session.downloads.append(
            {
                "ts": ts.isoformat(),
                "url": url,
                "shasum": _opt_text(event.get("shasum")),
                "outfile": _opt_text(event.get("outfile")),
                "failed": eventid.endswith(".failed"),
            }
        )


def _event(parse: FileParse, raw: bytes) -> None:
    event = _decode(raw)
    ts = _timestamp(event.get("timestamp"))
    if "session" not in event:
        # Sensor-level events (start-up, shutdown) belong to no session.
        parse.ignored += 1
        return
    _apply(_session_for(parse, event, ts), event, ts)
    parse.events += 1


def parse_cowrie_file(path: Path) -> FileParse:
    """Read one Cowrie JSON log; damaged lines are counted, an unreadable file sets ``error``."""
    parse = FileParse(path=path)
    try:
        for number, raw in enumerate(_lines(path), start=1):
            parse.lines = number
            if not raw.strip():
                continue
            try:
                _event(parse, raw)
            except _BadLine as exc:
                parse.bad(number, str(exc))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        where = f" after line {parse.lines}" if parse.lines else ""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        parse.error = f"{path}{where}: cannot read ({reason})"
    return parse
