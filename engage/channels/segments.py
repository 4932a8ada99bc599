"""What an outbound SMS body costs as sent, and safe splitting of over-long bodies.

The segment arithmetic (GSM-7 versus UCS-2, escape and surrogate pairs) is
``engage.flow.gsm``'s, so the flow validator's warnings and the billed figure agree. We send
with Twilio's ``smart_encoded=True``, which swaps look-alike Unicode (curly quotes, dashes, the
ellipsis, non-breaking spaces) for GSM characters, so ``measure`` applies the same substitutions
before counting: the stored figure is what the carrier is billed for.
"""

from __future__ import annotations

from dataclasses import dataclass

from engage.flow.gsm import segment_info

# The common substitutions Twilio's smart encoding makes (a subset of its published table).
SMART_ENCODING = {
    "\u00a0": " ",  # no-break space
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200b": "",  # zero-width space
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2026": "...",
    "\u2022": "-",  # bullet
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "'",
    "\u203a": "'",
    "\u02bc": "'",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u2044": "/",
    "\u2215": "/",
}
_SMART_TABLE = str.maketrans(SMART_ENCODING)

MAX_BODY_CHARS = 1600  # Twilio rejects longer bodies (error 21617)


@dataclass(frozen=True)
class Segments:
    """How a body travels: ``encoding`` is "GSM-7" or "UCS-2"; ``units`` septets or UTF-16 units."""

    encoding: str
    units: int
    segments: int


def smart_encode(text: str) -> str:
    """The body as Twilio sends it with ``smart_encoded=True`` (look-alikes replaced)."""
    return text.translate(_SMART_TABLE)


def measure(text: str, *, smart_encoded: bool = True) -> Segments:
    """Encoding, size and segment count of ``text`` as the carrier will see it."""
    info = segment_info(smart_encode(text) if smart_encoded else text)
    return Segments(info.encoding, info.units, info.segments)


def split_body(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at word boundaries.

    Prefers a paragraph or line break, then a space; a single word longer than ``limit`` is cut
    hard, but never between the halves of a surrogate pair (Python ``str`` indexes code points,
    and ``limit`` is also checked in UTF-16 units so a part never exceeds what Twilio counts).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if _utf16_len(rest) <= limit:
            parts.append(rest)
            break
        cut = _max_prefix(rest, limit)
        window = rest[:cut]
        boundary = max(window.rfind("\n"), window.rfind(" "))
        if boundary > cut // 2:
            cut = boundary
        part = rest[:cut].rstrip()
        if not part:  # only whitespace before the boundary: cut hard instead
            part, cut = rest[: _max_prefix(rest, limit)], _max_prefix(rest, limit)
        parts.append(part)
        rest = rest[cut:].lstrip()
    return parts


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _max_prefix(text: str, limit: int) -> int:
    """The longest prefix (in code points) whose UTF-16 length is at most ``limit``."""
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return max(index, 1)
    return len(text)
