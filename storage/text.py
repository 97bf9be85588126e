"""Scraped text made safe to store and to show: what a page sends is untrusted, and some characters
act on whatever displays them.

C0 and C1 control characters drive terminals (an ESC sequence recolours or clears a screen, a BEL
rings) and make XML invalid; they become spaces. Bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069) reorder the text displayed after them: a right-to-left override in
a headline visibly reverses the end of the title on the web page, in a terminal and in an email.
They are removed. Tab and newline stay. The marks U+200E/U+200F stay too: they only nudge a
neutral character's direction and are common in real Arabic and Hebrew text.

`plain()` runs at ingest (so stored text is clean) and again wherever text is shown (for what was
stored before).
"""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def plain(text: str | None) -> str:
    """Scraped text safe to print or draw: control characters become spaces, direction overrides go."""
    return _BIDI.sub("", _CONTROL.sub(" ", text or ""))


def plain_values(value: Any) -> Any:
    """`plain()` applied to every string inside a JSON-like value (a story's history)."""
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_values(v) for v in value]
    return value
