"""Bytes to text for pages and feeds: an invalid byte costs that byte, never the whole encoding.

A UTF-8 feed or page with one stray byte is common (a title pasted from a Windows tool, a
truncated multi-byte character). Guessing another encoding for all of it then garbles every
ë, č and ž (`TĂŤrheqja`). So the declared encoding wins, with replacement characters where bytes
are invalid, as long as the bytes mostly fit it; only a declaration that is plainly wrong (more
invalid sequences than a tenth of the valid non-ASCII characters) is left to detection.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
REPLACEMENT = "\ufffd"
TOLERATED = 3  # invalid sequences accepted in any case
INVALID_SHARE = 0.1  # beyond TOLERATED, at most this many per valid non-ASCII character


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    replaced: int = 0  # invalid byte sequences replaced by U+FFFD
    first_bad: int | None = None  # offset of the first one


def known(name: str | None) -> str | None:
    """The codec's canonical name, or None for an encoding Python does not know."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_declared(content: bytes, encoding: str) -> Decoded | None:
    """`content` decoded as `encoding`, invalid sequences replaced; None when the bytes do not
    fit the declaration well enough to trust it."""
    try:
        return Decoded(content.decode(encoding), encoding)
    except UnicodeDecodeError as e:
        first = e.start
    text = content.decode(encoding, errors="replace")
    genuine = content.count(b"\xef\xbf\xbd") if encoding == "utf-8" else 0  # U+FFFD sent as such
    replaced = text.count(REPLACEMENT) - genuine
    valid = sum(1 for c in text if ord(c) > 127) - replaced - genuine
    if replaced > TOLERATED and replaced > INVALID_SHARE * valid:
        return None
    return Decoded(text, encoding, max(replaced, 1), first)


def decode_page(content: bytes, encoding: str | None = None) -> str:
    """An HTML page's text: the HTTP charset, else the page's meta charset (each taken at its
    word, invalid bytes replaced), else UTF-8 if the bytes mostly are, else detection."""
    candidate = known(encoding) or known(_meta_charset(content))
    if candidate:
        return content.decode(candidate, errors="replace")
    decoded = decode_declared(content, "utf-8")
    if decoded is not None:
        return decoded.text
    best = from_bytes(content).best()
    return str(best) if best is not None else content.decode("cp1252", errors="replace")


def _meta_charset(content: bytes) -> str | None:
    m = _META_CHARSET.search(content[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def xml_declared(content: bytes, content_type: str | None) -> str:
    """The encoding an XML feed declares: HTTP charset, else its XML declaration, else UTF-8."""
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type or "", re.I)
    declared = known(m.group(1)) if m else None
    if declared is None:
        x = _XML_ENCODING.match(content[:512])
        declared = known(x.group(1).decode("ascii")) if x else None
    return declared or "utf-8"


def has_bom(content: bytes) -> bool:
    return content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
