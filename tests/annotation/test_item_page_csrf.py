"""The item page's CSRF token: masked as Django masks it, from one draw of random bytes.

Django's CsrfViewMiddleware must accept every token as its own, every token must be new
(BREACH: no two pages carry the same string), and the mask must be uniform over Django's 62
characters, as `secrets.choice` makes it.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.middleware import csrf
from django.test import Client
from scipy import stats

from annotation.views import item_page
from tests.factories import make_study

TOKEN_LENGTH = 2 * csrf.CSRF_SECRET_LENGTH


def test_every_token_is_django_s_format_and_accepted_for_its_secret_only():
    secret, other = csrf._get_new_csrf_string(), csrf._get_new_csrf_string()
    tokens = [item_page.masked_csrf_token(secret) for _ in range(500)]
    assert len(set(tokens)) == len(tokens)  # a new mask each time
    for token in tokens:
        assert token is not None and len(token) == TOKEN_LENGTH
        assert set(token) <= set(csrf.CSRF_ALLOWED_CHARS)
        assert csrf._unmask_cipher_token(token) == secret
        assert csrf._does_token_match(token, secret)
        assert not csrf._does_token_match(token, other)


def test_the_mask_is_uniform_over_the_allowed_characters():
    secret = csrf._get_new_csrf_string()
    masks = Counter(
        c for _ in range(3000) for c in item_page.masked_csrf_token(secret)[: TOKEN_LENGTH // 2]
    )
    observed = [masks[c] for c in csrf.CSRF_ALLOWED_CHARS]
    # 96,000 draws over 62 characters; a biased mask (bytes mod 62 without rejection: the
    # first 8 characters 5/4 as likely) gives p < 1e-100 here
    assert stats.chisquare(observed).pvalue > 1e-6


def test_bytes_that_would_bias_the_mask_are_dropped(monkeypatch):
    draws = iter([bytes([255, 250, 248] * 14), bytes(range(40))])
    monkeypatch.setattr(item_page.secrets, "token_bytes", lambda n: next(draws))
    secret = csrf._get_new_csrf_string()
    token = item_page.masked_csrf_token(secret)
    chars = csrf.CSRF_ALLOWED_CHARS
    assert token[:32] == chars[:32]  # the mask: the second draw's first 32 bytes
    expected = "".join(chars[(chars.index(s) + i) % len(chars)] for i, s in enumerate(secret))
    assert token[32:] == expected  # Django's cipher: the secret shifted by the mask


@pytest.mark.parametrize("secret", ["", "short", "!" * csrf.CSRF_SECRET_LENGTH])
def test_what_is_not_a_secret_of_django_s_gets_no_token(secret):
    assert item_page.masked_csrf_token(secret) is None


@pytest.mark.django_db
def test_a_page_without_a_csrf_cookie_gets_django_s_token_and_cookie():
    study = make_study(n_batches=1, slots=1, batch_length=2)
    client = Client(enforce_csrf_checks=True)
    client.get(f"/a/{study.name}/?PROLIFIC_PID=nocookie&STUDY_ID=s&SESSION_ID=x")
    page = client.get(f"/a/{study.name}/consent/")
    client.post(
        f"/a/{study.name}/consent/",
        {"consent": "yes", "csrfmiddlewaretoken": _token(page.content.decode())},
    )
    instructions = client.get(f"/a/{study.name}/instructions/").content.decode()
    client.post(f"/a/{study.name}/instructions/", {"csrfmiddlewaretoken": _token(instructions)})
    del client.cookies["csrftoken"]  # the cookie is gone: the item page must set a new one
    response = client.get(f"/a/{study.name}/item/")
    assert "csrftoken" in response.cookies
    secret = response.cookies["csrftoken"].value
    assert csrf._does_token_match(_token(response.content.decode()), secret)


def _token(html: str) -> str:
    marker = 'name="csrfmiddlewaretoken" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
