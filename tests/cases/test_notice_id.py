"""Notice IDs: format, randomness, check symbol, normalisation."""

from __future__ import annotations

import re

from iotnotice.cases.notice_id import ALPHABET, CHECK_ALPHABET, is_valid, new_notice_id, normalise

FORMAT = re.compile(
    r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z*~$=U]$"
)


def test_format_and_validity() -> None:
    """New IDs have the four-four-four-check shape and validate."""
    for _ in range(500):
        nid = new_notice_id()
        assert FORMAT.match(nid), nid
        assert is_valid(nid)
        assert normalise(nid) == nid


def test_unique_over_many() -> None:
    """Twenty thousand IDs are all different (60 random bits)."""
    ids = {new_notice_id() for _ in range(20_000)}
    assert len(ids) == 20_000


def test_every_single_symbol_substitution_is_detected() -> None:
    """Changing any one symbol, check symbol included, to any other symbol fails the check."""
    for _ in range(30):
        nid = new_notice_id()
        compact = nid.replace("-", "")
        for pos in range(13):
            alphabet = ALPHABET if pos < 12 else CHECK_ALPHABET
            for sym in alphabet:
                if sym == compact[pos]:
                    continue
                typo = compact[:pos] + sym + compact[pos + 1 :]
                assert not is_valid(typo), (nid, typo)


def test_adjacent_transpositions_are_detected() -> None:
    """Swapping two neighbouring different symbols of the body fails the check."""
    for _ in range(200):
        compact = new_notice_id().replace("-", "")
        for pos in range(12):
            a, b = compact[pos], compact[pos + 1]
            if a != b:
                swapped = compact[:pos] + b + a + compact[pos + 2 :]
                assert not is_valid(swapped)


def test_normalise_accepts_crockford_misreadings() -> None:
    """Lower case, spaces, missing hyphens, I/L for 1 and O for 0 all normalise."""
    body = "01A1" * 3
    from iotnotice.cases.notice_id import _decode, check_symbol

    check = check_symbol(_decode(body))
    canonical = f"01A1-01A1-01A1-{check}"
    typed = f"oiAl 0la1-OIA1 {check.lower()}"
    assert normalise(typed) == canonical
    assert normalise(canonical.replace("-", "")) == canonical


def test_normalise_rejects_garbage() -> None:
    """Wrong length, foreign symbols and U in the body are rejected."""
    nid = new_notice_id()
    assert normalise(nid[:-1]) is None
    assert normalise(nid + "0") is None
    assert normalise("UUUU-UUUU-UUUU-0") is None
    assert normalise("") is None
    assert normalise("192.0.2.1") is None


def test_documented_example_is_valid() -> None:
    """The example ID in the docs and the support site's hint is a valid notice ID."""
    assert is_valid("7K3M-Q9ZD-A1TR-2")
    assert not is_valid("7K3M-Q9ZD-A1TR-X")
