"""URLs as messages show them."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import given
from hypothesis import strategies as st

from apiharness._urls import shown_url

secret = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=8, max_size=20)
path = st.lists(st.text("abcdef0123", min_size=1, max_size=6), max_size=3).map(
    lambda parts: "".join(f"/{p}" for p in parts)
)


@given(user=secret, password=secret, token=secret, fragment=secret, path=path)
def test_credentials_in_userinfo_query_and_fragment_are_never_shown(
    user: str, password: str, token: str, fragment: str, path: str
) -> None:
    url = f"https://{quote(user)}:{quote(password)}@api.example:8443{path}?k={token}#{fragment}"
    shown = shown_url(url)
    assert shown == f"https://api.example:8443{path}"
    for value in (user, password, token, fragment):
        assert value not in shown
    assert shown == shown_url(str(httpx.URL(url)))  # as httpx spells the same URL


def test_ipv6_hosts_and_unparseable_urls() -> None:
    assert shown_url("http://[::1]:8000/a?x=1") == "http://[::1]:8000/a"
    assert shown_url("http://h:notaport/p?secret=1") == "http://h:notaport/p"
    assert shown_url("not a url?token=abc") == "not a url"
    assert shown_url("file:///specs/a.yaml") == "file:///specs/a.yaml"
