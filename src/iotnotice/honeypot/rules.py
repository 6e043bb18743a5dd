"""Judge one honeypot session: is its source a Mirai-family (or other IoT) bot?

Signals, each read from the session's Cowrie events:

- ``D`` default credentials: a successful login with one of the 62 pairs of Mirai's brute-force
  table (``data/mirai_credentials.csv``).
- ``T`` busybox token: ``/bin/busybox <TOKEN>`` with an upper-case word that is no busybox applet.
  Mirai sends ``/bin/busybox MIRAI`` right after login and waits for ``MIRAI: applet not found``;
  variants use their own word (ECCHI, SATORI, OKIRU, MASUTA, ...). The token is kept as a
  variant hint.
- ``S`` Mirai's post-login sequence: at least three of the commands ``enable``, ``system``,
  ``shell``, ``sh`` typed on their own (Mirai sends all four to escape vendor CLIs).
- ``W`` dropper: ``wget``/``curl``/``tftp``/``ftpget`` fetching a file (also through busybox),
  ``echo -ne`` writing an ELF header byte by byte (Mirai's loader does this where no fetcher
  exists), or a ``cowrie.session.file_download``/``file_upload`` event (URL and SHA-256 kept);
  ``chmod`` and execution of a fetched file are recorded as well.

Confidence is the probability-like belief that the source is an infected IoT bot:

=================================  ===========  ==========  =====================================
signals                            verdict      confidence  why
=================================  ===========  ==========  =====================================
D + T                              infected     0.99        Mirai's exact login-then-probe dialogue
D + S                              infected     0.97        Mirai's table and its shell escapes
D + W                              infected     0.95        IoT default login, then a dropper
T (other credentials)              infected     0.90        the probe word is Mirai-family only
S + W (other credentials)          infected     0.85        shell escapes plus a dropper
D alone, S alone or W alone        suspicious   0.60        one Mirai trait; not enough to notify
failed logins, all from the table  suspicious   0.40        brute force with Mirai's pairs
anything else                      clean        0.00        ordinary or empty session
=================================  ===========  ==========  =====================================

The residual 1% of the strongest rule covers people replaying Mirai's dialogue by hand (tests,
researchers). Family is ``mirai`` when T or S fired, otherwise ``iot-unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotnotice.honeypot.credentials import iot_default

__all__ = ["Signals", "Verdict", "judge", "read_signals", "split_commands"]

_SEPARATORS = re.compile(r";|&&|\|\||\||\n|\r")
_TOKEN = re.compile(r"[A-Z][A-Z0-9_]{1,31}")
_ESCAPES = frozenset({"enable", "system", "shell", "sh"})
_FETCHERS = frozenset({"wget", "curl", "tftp", "ftpget"})
# The ELF magic as echo escapes: \x7fELF written as hex or with the letters kept.
_ELF_ECHO = re.compile(r"\\x7f(?:\\x45\\x4c\\x46|ELF)", re.IGNORECASE)


@dataclass
class Signals:
    """What the rules saw in one session."""

    default_login: str | None = None
    credential_index: int | None = None
    failed_default: int = 0
    failed_other: int = 0
    tokens: list[str] = field(default_factory=list)
    escapes: set[str] = field(default_factory=set)
    fetches: list[str] = field(default_factory=list)
    executes: bool = False
    downloads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dropper(self) -> bool:
        return bool(self.fetches or self.downloads)

    @property
    def sequence(self) -> bool:
        return len(self.escapes) >= 3


@dataclass(frozen=True)
class Verdict:
    """The judgement of one session."""

    verdict: str
    confidence: float
    family: str | None
    variant: str | None
    reasons: tuple[str, ...]


def split_commands(line: str) -> list[list[str]]:
    """Split a shell input line into simple commands (word lists), as Cowrie's shell would."""
    return [part.split() for part in _SEPARATORS.split(line) if part.strip()]


def _program(words: Sequence[str]) -> tuple[str, list[str]]:
    """The program run and its arguments, looking through a ``busybox`` prefix."""
    name = words[0].rsplit("/", 1)[-1]
    if name == "busybox" and len(words) > 1:
        return words[1].rsplit("/", 1)[-1], list(words[2:])
    return name, list(words[1:])


def _read_command(signals: Signals, words: list[str]) -> None:
    name, args = _program(words)
    if words[0].rsplit("/", 1)[-1] == "busybox" and len(words) > 1 and _TOKEN.fullmatch(words[1]):
        signals.tokens.append(words[1])
    elif len(words) == 1 and name in _ESCAPES:
        signals.escapes.add(name)
    elif (name in _FETCHERS and args) or (name == "echo" and _ELF_ECHO.search(" ".join(args))):
        signals.fetches.append(" ".join(words))
    elif name == "chmod" or (name.startswith("./") and len(name) > 2):
        signals.executes = True


def _read_logins(signals: Signals, logins: Iterable[dict[str, Any]]) -> None:
    for login in logins:
        cred = iot_default(login.get("username"), login.get("password"))
        if login.get("success"):
            if cred is not None and signals.default_login is None:
                signals.default_login = f"{cred.username}/{cred.password}"
                signals.credential_index = cred.index
        elif cred is not None:
            signals.failed_default += 1
        else:
            signals.failed_other += 1


def read_signals(
    logins: Iterable[dict[str, Any]],
    commands: Iterable[dict[str, Any]],
    downloads: Iterable[dict[str, Any]],
) -> Signals:
    """Collect the rule signals of one session from its stored events."""
    signals = Signals(downloads=list(downloads))
    _read_logins(signals, logins)
    for command in commands:
        for words in split_commands(str(command.get("input", ""))):
            _read_command(signals, words)
    return signals


def _reasons(s: Signals) -> tuple[str, ...]:
    out = []
    if s.default_login:
        out.append(
            f"login with Mirai default credentials {s.default_login} (#{s.credential_index})"
        )
    if s.tokens:
        out.append(f"busybox probe token {', '.join(dict.fromkeys(s.tokens))}")
    if s.sequence:
        out.append(f"Mirai shell escapes {', '.join(sorted(s.escapes))}")
    if s.dropper:
        out.append(f"dropper: {len(s.fetches)} fetch command(s), {len(s.downloads)} download(s)")
    if s.executes:
        out.append("chmod/exec of a file")
    if s.failed_default:
        out.append(f"{s.failed_default} failed login(s) with Mirai default credentials")
    return tuple(out)


def _score(s: Signals) -> tuple[str, float]:
    d, t, q, w = bool(s.default_login), bool(s.tokens), s.sequence, s.dropper
    if d and t:
        return "infected", 0.99
    if d and q:
        return "infected", 0.97
    if d and w:
        return "infected", 0.95
    if t:
        return "infected", 0.90
    if q and w:
        return "infected", 0.85
    if d or q or w:
        return "suspicious", 0.60
    if s.failed_default and not s.failed_other:
        return "suspicious", 0.40
    return "clean", 0.0


def judge(
    logins: Iterable[dict[str, Any]],
    commands: Iterable[dict[str, Any]],
    downloads: Iterable[dict[str, Any]],
) -> Verdict:
    """The verdict of one session (see the module docstring for the table)."""
    s = read_signals(logins, commands, downloads)
    verdict, confidence = _score(s)
    family = None
    if verdict != "clean":
        family = "mirai" if (s.tokens or s.sequence) else "iot-unknown"
    variant = s.tokens[0] if s.tokens else None
    return Verdict(verdict, confidence, family, variant, _reasons(s))
