"""SMS segment arithmetic: GSM-7 (160/153 chars) versus UCS-2 (70/67 UTF-16 units).

One character outside the GSM 03.38 alphabet (for example á, í, ó, ú or an emoji) makes the
whole message UCS-2, which more than halves what fits in one segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: str  # the characters that forced UCS-2, in order of appearance, unique


def segment_info(text: str) -> SegmentInfo:
    """How ``text`` is encoded and how many SMS segments it takes."""
    non_gsm: list[str] = []
    septets = 0
    for ch in text:
        if ch in GSM7_BASIC:
            septets += 1
        elif ch in GSM7_EXTENDED:
            septets += 2
        elif ch not in non_gsm:
            non_gsm.append(ch)
    if not non_gsm:
        segments = 1 if septets <= 160 else math.ceil(septets / 153)
        return SegmentInfo("GSM-7", septets, segments, "")
    units = len(text.encode("utf-16-le")) // 2
    segments = 1 if units <= 70 else math.ceil(units / 67)
    return SegmentInfo("UCS-2", units, segments, "".join(non_gsm))
