"""A readable report e-mail per ISP, in the ISP's language (ja/en), with the CSV attached.

The Message-ID is derived from the report's content (ISP, period, CSV hash): it is the
idempotency key that lets delivery retry after a crash without the ISP seeing two different
messages, and lets a receiving ticket system drop an exact duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from iotnotice.db.models import Case, Isp
from iotnotice.notify.files import slug
from iotnotice.settings import Settings

__all__ = ["build_message", "message_id"]

_TEXT = {
    "en": {
        "subject": "[{org}] Infected IoT devices on your network: {n} case(s), {period}",
        "greeting": "Dear {isp} abuse team,\n\nThis is {org}.",
        "intro": (
            "Our network telescope (darknet) received unsolicited scanning traffic from the\n"
            "addresses below. The traffic matches IoT malware ({families}): the devices are very\n"
            "likely infected and are trying to infect others."
        ),
        "ask": (
            "Please identify the subscriber using each address at the time shown (UTC) and pass\n"
            "on the notice ID. Subscribers can check that the notice is genuine and get help at:\n"
            "  {site}"
        ),
        "columns": "notice ID|address|last seen (UTC)|family|port|packets",
        "attached": (
            "The attached CSV uses the columns of Shadowserver's event4_honeypot_darknet report."
        ),
        "signature": "Regards,\n{org} <{contact}>",
    },
    "ja": {
        "subject": "【{org}】貴社ネットワーク内のマルウェア感染IoT機器について（{period}、{n}件）",
        "greeting": "{isp} ご担当者様\n\nいつもお世話になっております。{org}です。",
        "intro": (
            "当方のダークネット（未使用IPアドレス空間）観測において、下記のアドレスから\n"
            "IoTマルウェア（{families}）に特有の探索通信を観測しました。\n"
            "該当機器はマルウェアに感染し、他の機器への感染拡大を試みている可能性が高いと考えられます。"
        ),
        "ask": (
            "各アドレスを上記の時刻（UTC）に利用していた契約者を特定のうえ、注意喚起を\n"
            "お願いいたします。その際は通知番号をお伝えください。契約者は次のサイトで通知が\n"
            "本物であることを確認し、対処方法を参照できます。\n"
            "  {site}"
        ),
        "columns": "通知番号|アドレス|最終観測 (UTC)|種別|ポート|パケット数",
        "attached": (
            "添付のCSVは Shadowserver の event4_honeypot_darknet レポートと同じ列構成です。"
        ),
        "signature": "{org} <{contact}>",
    },
}


def message_id(settings: Settings, isp_name: str, period: str, csv_sha256: str) -> str:
    """The content-derived Message-ID (idempotency key) of one ISP's report for one period."""
    key = hashlib.sha256(f"{isp_name}|{period}|{csv_sha256}".encode()).hexdigest()[:24]
    return f"<iotnotice.{slug(isp_name)}.{period}.{key}@{settings.reporter_domain}>"


_WIDTHS = (18, 16, 21, 12, 7, 0)


def _row(cells: Sequence[str]) -> str:
    return "".join(f"{cell:<{w}}" if w else cell for cell, w in zip(cells, _WIDTHS, strict=True))


def _line(case: Case) -> str:
    port = case.ports.split(",")[0].split("/")[0] if case.ports else "-"
    seen = f"{case.last_seen:%Y-%m-%d %H:%M:%S}"
    return _row([case.notice_id, case.ip, seen, case.family, port, str(case.packets)])


def _body(settings: Settings, isp: Isp, cases: Sequence[Case], lang: str) -> str:
    t = _TEXT[lang]
    name = (isp.display_name_ja or isp.display_name) if lang == "ja" else isp.display_name
    families = ", ".join(sorted({c.family for c in cases})) or "-"
    parts = [
        t["greeting"].format(isp=name or isp.name, org=settings.reporter_org),
        t["intro"].format(families=families),
        "\n".join([_row(t["columns"].split("|")), *(_line(c) for c in cases)]),
        t["ask"].format(site=settings.support_site_url),
        t["attached"],
        t["signature"].format(org=settings.reporter_org, contact=settings.reporter_contact),
    ]
    return "\n\n".join(parts) + "\n"


def build_message(
    settings: Settings,
    isp: Isp,
    cases: Sequence[Case],
    period: str,
    csv_name: str,
    csv_bytes: bytes,
    csv_sha256: str,
    now: datetime,
) -> EmailMessage:
    """The report e-mail for one ISP: plain-text body in its language, CSV attached."""
    lang = isp.language if isp.language in _TEXT else "en"
    msg = EmailMessage()
    msg["Subject"] = _TEXT[lang]["subject"].format(
        org=settings.reporter_org, n=len(cases), period=period
    )
    msg["From"] = f"{settings.reporter_org} <{settings.reporter_contact}>"
    msg["To"] = ", ".join(isp.contacts) if isp.contacts else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(settings, isp.name, period, csv_sha256)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Iotnotice-Period"] = period
    msg["X-Iotnotice-Cases"] = str(len(cases))
    msg["Content-Language"] = lang
    # Quoted-printable keeps the text readable in raw form and safe to sign (RFC 3156).
    msg.set_content(_body(settings, isp, cases, lang), charset="utf-8", cte="quoted-printable")
    msg.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=csv_name)
    return msg
