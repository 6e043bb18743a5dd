"""OpenPGP/MIME signed report e-mail, checked with a real gpg and a key made by the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from iotnotice.cases import update_cases
from iotnotice.notify import run_notify
from iotnotice.settings import Settings

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gnupg() -> Iterator[tuple[Path, str]]:
    """A throwaway GnuPG home with one passphrase-less Ed25519 signing key: (home, fingerprint)."""
    # Short path: gpg-agent's socket path must fit in sun_path.
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    home.chmod(0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    subprocess.run(
        [
            *gpg,
            "--passphrase",
            "",
            "--quick-gen-key",
            "iotnotice test CERT <cert@iotnotice.example>",
            "ed25519",
            "sign",
            "1d",
        ],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [*gpg, "--with-colons", "--list-secret-keys"], check=True, capture_output=True, text=True
    ).stdout
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    yield home, fingerprint
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    shutil.rmtree(home, ignore_errors=True)


def _verify(home: Path, data: bytes, signature: bytes, tmp: Path) -> bool:
    (tmp / "signed.bin").write_bytes(data)
    (tmp / "sig.asc").write_bytes(signature)
    proc = subprocess.run(
        [
            "gpg",
            "--batch",
            "--homedir",
            str(home),
            "--verify",
            str(tmp / "sig.asc"),
            str(tmp / "signed.bin"),
        ],
        capture_output=True,
    )
    return proc.returncode == 0


def test_signed_email_verifies(
    settings: Settings,
    engine: Engine,
    put_host: Callable[..., None],
    gnupg: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """The .eml is multipart/signed; gpg verifies its first part, and a changed byte fails."""
    home, fingerprint = gnupg
    signing = settings.replace(pgp_signing_key=fingerprint, gnupg_home=str(home))
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(signing, engine)
    summary = run_notify(signing, engine, now=T0)
    assert not summary.failed
    raw = next((signing.outbox_path / "beta-ne-jp").glob("*.eml")).read_bytes()
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("protocol") == "application/pgp-signature"
    assert msg.get_param("micalg") == "pgp-sha256"
    assert "感染" in str(msg["Subject"]) and msg["Message-ID"]
    boundary = msg.get_boundary()
    assert boundary is not None
    parts = raw.split(f"--{boundary}".encode())
    signed = parts[1][2:-2]  # between the CRLF after the delimiter and the CRLF before the next
    signature = re.search(
        rb"-----BEGIN PGP SIGNATURE-----.*?-----END PGP SIGNATURE-----\r\n", raw, re.S
    )
    assert signature is not None
    assert _verify(home, signed, signature.group(0), tmp_path)
    assert not _verify(
        home, signed.replace(b"192.0.2.7", b"192.0.2.8"), signature.group(0), tmp_path
    )
    body, _sig = msg.iter_parts()
    (attachment,) = list(body.iter_attachments())
    assert "192.0.2.7" in attachment.get_content()


def test_unknown_signing_key_fails_that_isp_only(
    settings: Settings, engine: Engine, put_host: Callable[..., None], gnupg: tuple[Path, str]
) -> None:
    """A key gpg cannot use is reported as the ISP's error; nothing is marked as reported."""
    home, _ = gnupg
    broken = settings.replace(pgp_signing_key="nobody@nowhere.example", gnupg_home=str(home))
    put_host("192.0.2.7", "beta.ne.jp")
    update_cases(broken, engine)
    summary = run_notify(broken, engine, now=T0)
    (failed,) = summary.failed
    assert "gpg could not sign" in failed.error
    assert summary.reported == 0
