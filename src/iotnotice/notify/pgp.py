"""OpenPGP/MIME signatures (RFC 3156) for report e-mail, made by the ``gpg`` program.

The signed part is serialised once, with CRLF line ends, and those exact bytes are both
signed and written into the message; delivery sends the file's bytes unchanged, so the
signature stays valid all the way to the ISP.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from email import policy
from email.message import EmailMessage

from iotnotice.errors import ConfigError
from iotnotice.settings import Settings

__all__ = ["detach_sign", "signed_bytes"]

# Headers that describe the body; they move into the signed part.
_CONTENT_HEADERS = ("content-type", "content-transfer-encoding", "mime-version")


def detach_sign(settings: Settings, data: bytes) -> bytes:
    """An ASCII-armoured detached SHA-256 signature of ``data`` by the configured key."""
    gpg = shutil.which("gpg")
    if gpg is None:
        raise ConfigError("pgp_signing_key is set but the gpg program is not installed")
    cmd = [
        gpg,
        "--batch",
        "--yes",
        "--armor",
        "--detach-sign",
        "--digest-algo",
        "SHA256",
        "--local-user",
        str(settings.pgp_signing_key),
    ]
    if settings.gnupg_home:
        cmd[1:1] = ["--homedir", str(settings.gnupg_home)]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(
            f"gpg could not sign with {settings.pgp_signing_key!r}: "
            f"{reason[-1] if reason else proc.returncode}"
        )
    return proc.stdout


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def signed_bytes(settings: Settings, msg: EmailMessage) -> bytes:
    """The whole message as multipart/signed bytes (CRLF), its body signed with the key."""
    body = EmailMessage(policy=policy.SMTP)
    for name, value in msg.items():
        if name.lower() in ("content-type", "content-transfer-encoding"):
            body[name] = value
    body.set_payload(msg.get_payload())
    part = _crlf(body.as_bytes())
    signature = _crlf(detach_sign(settings, part))
    boundary = f"=_iotnotice_signed_{secrets.token_hex(12)}"
    outer = EmailMessage(policy=policy.SMTP)
    for name, value in msg.items():
        if name.lower() not in _CONTENT_HEADERS:
            outer[name] = value
    outer["MIME-Version"] = "1.0"
    outer["Content-Type"] = (
        f'multipart/signed; boundary="{boundary}"; micalg=pgp-sha256; '
        'protocol="application/pgp-signature"'
    )
    outer.set_payload("")
    sig_head = (
        'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        "Content-Description: OpenPGP digital signature\r\n"
        'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n'
    )
    return b"".join(
        [
            _crlf(outer.as_bytes()),
            f"--{boundary}\r\n".encode(),
            part,
            f"\r\n--{boundary}\r\n".encode(),
            sig_head.encode(),
            signature,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
