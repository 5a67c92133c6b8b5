"""The storefront page ships the default content, so it never waits on Redis to show something."""

from __future__ import annotations

import html

from streams.storefront.content import DEFAULT
from streams.storefront.server import PAGE, fallback_payload


def test_the_page_shows_the_default_content_before_any_answer() -> None:
    page = PAGE.decode()
    assert "Loading" not in page
    assert "@DEFAULT" not in page
    assert f'<h1 id="headline">{html.escape(DEFAULT.headline)}</h1>' in page
    for offer in DEFAULT.offers:
        assert f"<li>{html.escape(offer)}</li>" in page


def test_the_fallback_is_the_default_content_and_says_so() -> None:
    payload = fallback_payload("c0000003")
    assert payload["fallback"] is True
    assert payload["content"]["headline"] == DEFAULT.headline
    assert payload["segments"] == {}
