"""Public notice IDs: 60 random bits as Crockford base32 with a mod-37 check symbol.

A notice ID is what a subscriber reads off an ISP's alert and types into the support site,
so it is short (``7K3M-Q9ZD-A1TR-2``: three groups of four symbols, then the check symbol),
tolerant of the usual misreadings (Crockford: I and L read as 1, O as 0, any case, hyphens
and spaces ignored) and carries a check symbol that catches every single-symbol typo and
every adjacent transposition. It is pure randomness from :mod:`secrets`: it reveals nothing
about the IP address, and uniqueness is checked against the database, whose unique
constraint is the final guard.
"""

from __future__ import annotations

import secrets

__all__ = ["ALPHABET", "CHECK_ALPHABET", "check_symbol", "is_valid", "new_notice_id", "normalise"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's check symbols: the 32 symbols above plus five extra for values 32..36.
CHECK_ALPHABET = ALPHABET + "*~$=U"
BITS = 60
SYMBOLS = BITS // 5  # 12
_VALUE = {ch: i for i, ch in enumerate(CHECK_ALPHABET)}
# Crockford's decoding aliases for symbols people misread.
_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _encode(value: int) -> str:
    return "".join(ALPHABET[(value >> (5 * (SYMBOLS - 1 - i))) & 31] for i in range(SYMBOLS))


def _decode(body: str) -> int:
    value = 0
    for ch in body:
        value = value * 32 + _VALUE[ch]
    return value


def check_symbol(value: int) -> str:
    """Crockford's check symbol of a number: its value modulo 37."""
    return CHECK_ALPHABET[value % 37]


def _display(body: str, check: str) -> str:
    return f"{body[0:4]}-{body[4:8]}-{body[8:12]}-{check}"


def new_notice_id() -> str:
    """A fresh random notice ID, e.g. ``7K3M-Q9ZD-A1TR-2``."""
    value = secrets.randbits(BITS)
    return _display(_encode(value), check_symbol(value))


def normalise(text: str) -> str | None:
    """The canonical form of a typed notice ID, or None when it is malformed or fails its check."""
    if not isinstance(text, str):
        return None
    compact = "".join(text.split()).replace("-", "").upper().translate(_ALIASES)
    if len(compact) != SYMBOLS + 1:
        return None
    body, check = compact[:SYMBOLS], compact[SYMBOLS]
    if any(ch not in ALPHABET for ch in body) or check not in _VALUE:
        return None
    if check_symbol(_decode(body)) != check:
        return None
    return _display(body, check)


def is_valid(text: str) -> bool:
    """True when ``text`` is a well-formed notice ID whose check symbol matches."""
    return normalise(text) is not None
