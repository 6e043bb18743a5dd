"""Notice verification: genuine, mistyped, unknown, rate-limited, CSRF-protected."""

from __future__ import annotations

from web_site import INFECTED_IP, Site, post_form

from iotnotice.cases.notice_id import ALPHABET, new_notice_id
from iotnotice.web.i18n import MESSAGES
from iotnotice.web.security import RateLimiter

JA, EN = MESSAGES["ja"], MESSAGES["en"]


def _mistype(notice: str) -> str:
    """The same ID with its first symbol replaced by another."""
    first = notice[0]
    return ALPHABET[(ALPHABET.index(first) + 1) % 32] + notice[1:]


def test_genuine_id_shows_observation_but_never_the_ip(site: Site) -> None:
    """A genuine ID shows family, ports and dates, and not the IP address or ISP."""
    typed = site.genuine.lower().replace("-", " ")
    page = post_form(site.client, "/verify", {"notice_id": typed})
    assert page.status_code == 200
    assert JA["verify_genuine"] in page.text
    assert "mirai" in page.text and "23/tcp,2323/tcp" in page.text
    assert "2026-11-20" in page.text and "2026-11-24" in page.text and "2026-11-25" in page.text
    assert INFECTED_IP not in page.text
    assert "east-net" not in page.text and "East Net" not in page.text
    assert JA["what_to_do_title"] in page.text


def test_mistyped_id_is_caught_by_the_check_symbol(site: Site) -> None:
    """One wrong symbol gives the 'check the ID' message, not 'not found'."""
    page = post_form(site.client, "/verify?lang=en", {"notice_id": _mistype(site.genuine)})
    assert EN["verify_bad_check"] in page.text
    assert EN["verify_not_found"] not in page.text
    assert EN["verify_genuine"] not in page.text


def test_unknown_valid_id_is_not_found(site: Site) -> None:
    """A well-formed ID that no case carries is reported as not found (possible scam)."""
    unknown = new_notice_id()
    page = post_form(site.client, "/verify?lang=en", {"notice_id": unknown})
    assert EN["verify_not_found"] in page.text
    assert EN["verify_bad_check"] not in page.text


def test_checks_are_rate_limited_per_client_address(site: Site) -> None:
    """The sixth check from one address within the window is refused; another address is not."""
    headers = {"X-Forwarded-For": "203.0.113.9"}
    token_page = site.client.get("/verify")
    token = token_page.text.split('name="csrf" value="')[1].split('"')[0]
    codes = [
        site.client.post(
            "/verify", data={"notice_id": new_notice_id(), "csrf": token}, headers=headers
        ).status_code
        for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]
    refused = site.client.post(
        "/verify", data={"notice_id": site.genuine, "csrf": token}, headers=headers
    )
    assert JA["verify_rate_limited"] in refused.text and "mirai" not in refused.text
    other = site.client.post(
        "/verify",
        data={"notice_id": site.genuine, "csrf": token},
        headers={"X-Forwarded-For": "203.0.113.10"},
    )
    assert other.status_code == 200 and JA["verify_genuine"] in other.text


def test_form_without_csrf_token_is_refused(site: Site) -> None:
    """A POST without the session's token is rejected and reveals nothing."""
    page = site.client.post("/verify", data={"notice_id": site.genuine, "csrf": "forged"})
    assert page.status_code == 400
    assert "mirai" not in page.text


def test_link_carried_id_is_checked_and_rate_limited_too(site: Site) -> None:
    """GET /verify?notice_id=... answers like the form and counts against the same limit."""
    headers = {"X-Forwarded-For": "203.0.113.50"}
    page = site.client.get("/verify", params={"notice_id": site.genuine}, headers=headers)
    assert JA["verify_genuine"] in page.text and INFECTED_IP not in page.text
    codes = [
        site.client.get("/verify", params={"notice_id": "x"}, headers=headers).status_code
        for _ in range(5)
    ]
    assert codes == [200] * 4 + [429]


def test_rate_limiter_window_slides_and_forgets_idle_addresses() -> None:
    """Events leave the window after its length; idle addresses are pruned."""
    limiter = RateLimiter(2, 10.0)
    assert limiter.allow("a", 0.0) and limiter.allow("a", 1.0) and not limiter.allow("a", 2.0)
    assert limiter.allow("a", 10.5)
    for n in range(10_001):
        limiter.allow(f"k{n}", 100.0)
    limiter.allow("late", 200.0)
    assert set(limiter._events) == {"late"}
