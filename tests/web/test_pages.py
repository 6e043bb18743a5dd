"""Support-site pages: languages, catalogue completeness, home, guidance, self-check, inquiry."""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import escape
from sqlalchemy import select
from web_site import INFECTED_IP, OTHER_IP, Site, post_form

import iotnotice.web
from iotnotice.db import session_scope
from iotnotice.db.models import Inquiry
from iotnotice.web.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]
TEMPLATES = Path(iotnotice.web.__file__).with_name("templates")


def test_every_string_has_both_languages() -> None:
    """The ja and en catalogues have the same non-empty keys, and templates use only those."""
    assert set(JA) == set(EN)
    assert all(JA[k].strip() and EN[k].strip() for k in JA)
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\(["']([a-z_]+)["']\)""", template.read_text()))
    assert used and used <= set(JA)


def test_example_notice_ids_pass_their_own_check() -> None:
    """Every notice ID shown as an example on the site is one the verifier accepts."""
    from iotnotice.cases.notice_id import is_valid

    examples = {
        m
        for text in (*JA.values(), *EN.values())
        for m in re.findall(r"[0-9A-Z]{4}(?:-[0-9A-Z*~$=]{1,4}){3}", text)
    }
    assert examples
    assert all(is_valid(e) for e in examples), examples


def test_japanese_by_default_and_english_by_link(site: Site) -> None:
    """The home page is Japanese unless ?lang=en, and links keep the chosen language."""
    ja = site.client.get("/")
    assert '<html lang="ja">' in ja.text and JA["home_title"] in ja.text
    assert 'href="/verify?lang=en"' not in ja.text
    en = site.client.get("/?lang=en")
    assert '<html lang="en">' in en.text and EN["home_title"] in en.text
    assert JA["home_title"] not in en.text
    assert 'href="/verify?lang=en"' in en.text
    assert site.client.get("/?lang=xx").text.count('<html lang="ja">') == 1


def test_home_explains_scams_and_gives_the_phone(site: Site) -> None:
    """Home tells how to spot a scam and shows the configured phone number, with a skip link."""
    page = site.client.get("/?lang=en").text
    for key in ("home_scam_money", "home_scam_link", "home_alert_text"):
        assert str(escape(EN[key])) in page
    assert "0120-123-456" in page
    assert 'href="#main"' in page and 'id="main"' in page
    assert "/static/style.css" in page
    assert site.client.get("/static/style.css").status_code == 200


def test_guidance_covers_every_device_kind(site: Site) -> None:
    """Guidance has a heading per device kind in both languages."""
    for lang, catalogue in (("ja", JA), ("en", EN)):
        page = site.client.get(f"/guidance?lang={lang}").text
        for key in ("router", "camera", "dvr", "nas", "hub", "replace"):
            assert catalogue[f"guide_{key}"] in page


def test_self_check_answers_only_for_the_visitors_own_address(site: Site) -> None:
    """Flagged for the infected address via the trusted header; clear for a resolved one."""
    token = site.client.get("/self-check").text.split('name="csrf" value="')[1].split('"')[0]
    flagged = site.client.post(
        "/self-check?lang=en", data={"csrf": token}, headers={"X-Forwarded-For": INFECTED_IP}
    )
    assert EN["selfcheck_flagged"] in flagged.text and "mirai" in flagged.text
    assert INFECTED_IP not in flagged.text
    resolved = site.client.post(
        "/self-check?lang=en", data={"csrf": token}, headers={"X-Forwarded-For": OTHER_IP}
    )
    assert EN["selfcheck_clear"] in resolved.text


def test_inquiry_creates_a_ticket_with_a_reference(site: Site) -> None:
    """Filing the form stores an inquiry and shows its reference number."""
    page = post_form(
        site.client,
        "/inquiry?lang=en",
        {"name": "Taro", "email": "taro@example.jp", "notice_id": "", "message": "Is this real?"},
    )
    assert page.status_code == 200 and EN["inquiry_done"] in page.text
    reference = re.search(r'id="reference">([^<]+)<', page.text)
    assert reference is not None
    engine = site.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        stored = session.scalar(select(Inquiry).where(Inquiry.reference == reference.group(1)))
        assert stored is not None and stored.message == "Is this real?" and stored.language == "en"
    empty = post_form(site.client, "/inquiry", {"message": "   "})
    assert empty.status_code == 400 and JA["inquiry_empty"] in empty.text


def test_unknown_page_is_a_translated_404(site: Site) -> None:
    """A missing page answers 404 with the site's own message."""
    page = site.client.get("/nope?lang=en")
    assert page.status_code == 404 and EN["not_found_page"] in page.text
