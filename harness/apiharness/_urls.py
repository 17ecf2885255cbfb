"""URLs as messages show them: without the parts where credentials travel.

Standard library only, so the reference clients can use it without loading the harness.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["shown_url"]


def shown_url(url: str) -> str:
    """``url`` without userinfo, query and fragment: ``https://host:port/path``.

    Userinfo carries passwords and query strings carry ``api_key=`` and signed-URL signatures;
    what names a resource in a message is the scheme, host, port and path. Anything that does
    not parse as a URL with a host is returned cut at its first ``?`` or ``#``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:  # a malformed port or bracket: show no more than the path part
        host = None
    if not host:
        return url.split("?", 1)[0].split("#", 1)[0]
    shown_host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown_host}{f':{port}' if port is not None else ''}{parts.path}"
