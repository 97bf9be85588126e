"""Canonical URLs: the same article reached by two addresses must be stored once."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# parameters that say how a reader arrived, never which article it is
TRACKING_PREFIXES = ("utm_", "at_", "mc_", "pk_", "piwik_", "__twitter", "_hs")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "ocid", "cmpid", "ref", "ref_src", "_ga", "igshid",
    "mkt_tok", "spm", "smid", "sr_share", "xtor", "ns_mchannel", "ns_source", "ns_campaign", "ito",
    "wt_mc", "guccounter", "amp", "share", "s_cid",
})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def canonicalize(url: str, base: str | None = None) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters.

    An address that cannot be parsed (a port that is no number, a broken IPv6 literal: pages have
    such links) comes back stripped but otherwise as given; `is_usable` tells them apart."""
    url = url.strip()
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    netloc = host
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def host_of(url: str) -> str:
    """The host[:port] a URL points at, for per-host politeness limits."""
    parts = urlsplit(url)
    return (parts.netloc or "").lower()


def is_usable(url: str) -> bool:
    """An absolute http(s) address with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
