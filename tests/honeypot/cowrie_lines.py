"""Hand-written Cowrie JSON events, in the shape Cowrie 3.1's jsonlog output writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOT = "198.51.100.7"


class CowrieLog:
    """Builds one session's events with increasing timestamps."""

    def __init__(self, session: str = "a1b2c3d4e5f6", src_ip: str = BOT, start: int = 0) -> None:
        self.session, self.src_ip, self.second = session, src_ip, start
        self.lines: list[str] = []

    def event(self, eventid: str, **fields: Any) -> CowrieLog:
        self.second += 1
        record = {
            "eventid": eventid,
            "session": self.session,
            "src_ip": self.src_ip,
            "sensor": "hp1",
            "protocol": "telnet",
            "timestamp": f"2026-11-25T10:{self.second // 60:02d}:{self.second % 60:02d}.000000Z",
            **fields,
        }
        self.lines.append(json.dumps(record))
        return self

    def connect(self) -> CowrieLog:
        return self.event("cowrie.session.connect", src_port=40000, dst_port=2223)

    def login(self, user: str, password: str, ok: bool = True) -> CowrieLog:
        eventid = "cowrie.login.success" if ok else "cowrie.login.failed"
        return self.event(eventid, username=user, password=password)

    def cmd(self, *inputs: str) -> CowrieLog:
        for text in inputs:
            self.event("cowrie.command.input", input=text)
        return self

    def download(self, url: str, shasum: str) -> CowrieLog:
        return self.event(
            "cowrie.session.file_download", url=url, shasum=shasum, outfile=f"dl/{shasum}"
        )

    def close(self) -> CowrieLog:
        return self.event("cowrie.session.closed", duration=3.2)

    def write(self, path: Path, extra: list[str] | None = None) -> Path:
        path.write_text("\n".join(self.lines + (extra or [])) + "\n")
        return path
