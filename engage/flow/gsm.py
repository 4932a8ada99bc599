"""SMS segment arithmetic: GSM-7 (160/153 septets) versus UCS-2 (70/67 UTF-16 units).

One character outside the GSM 03.38 alphabet (for example á, í, ó, ú or an emoji) makes the
whole message UCS-2, which more than halves what fits in one segment. Extension characters
(``€ [ ] { } ^ ~ | \\``) cost two septets, and neither an escape pair nor a surrogate pair is
split across two segments of a concatenated message.

This is the project's one count: the flow validator warns with it and the SMS channel stores
it as the billed figure (``engage.channels.segments`` adds Twilio's smart encoding on top). It
lives here, not in channels, because the engine's validator may not import channels.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: str  # the characters that forced UCS-2, in order of appearance, unique


def segment_info(text: str) -> SegmentInfo:
    """How ``text`` is encoded and how many SMS segments it takes."""
    non_gsm = "".join(dict.fromkeys(ch for ch in text if not is_gsm7_char(ch)))
    gsm = not non_gsm
    costs = _costs(text, gsm)
    units = sum(costs)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    segments = 1 if units <= single else _pack(costs, multi)
    return SegmentInfo("GSM-7" if gsm else "UCS-2", units, segments, non_gsm)


def is_gsm7_char(ch: str) -> bool:
    return ch in GSM7_BASIC or ch in GSM7_EXTENDED


def _costs(text: str, gsm: bool) -> list[int]:
    """Cost of each character in septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if gsm:
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], per_segment: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle two."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:
            segments += 1
            used = 0
        used += cost
    return segments
