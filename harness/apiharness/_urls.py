"""URLs as messages show them (without the parts where credentials travel), and the segments
of a raw path as routes match them.

Standard library only, so the reference clients can use it without loading the harness.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["path_segments", "shown_url"]


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


def path_segments(raw_path: bytes | str) -> list[str]:
    """The segments of a path as sent (percent-encoded), each percent-decoded.

    ``raw_path`` is what httpx calls ``URL.raw_path``: a query after ``?`` is ignored. The path
    is split on ``/`` *before* decoding, as RFC 3986 (section 2.2) has it: ``%2F`` inside a
    segment is data, so ``/files/a%2Fb`` has the segments ``files`` and ``a/b``; ``/`` alone
    has the one segment ``""``. Undecodable escapes become U+FFFD, as
    :func:`urllib.parse.unquote` makes them.
    """
    if isinstance(raw_path, bytes):
        raw_path = raw_path.decode("utf-8", "replace")
    path = raw_path.partition("?")[0].removeprefix("/")
    if "%" not in path:  # the common case: nothing to decode
        return path.split("/")
    return [unquote(segment) for segment in path.split("/")]
