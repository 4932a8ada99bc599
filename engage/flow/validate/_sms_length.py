"""Warnings for texts that take more than one SMS segment (each one is billed)."""

from __future__ import annotations

from engage.flow.gsm import segment_info
from engage.flow.templating import PLACEHOLDER
from engage.flow.validate._context import FlowContext

SAMPLE_FILL = "x" * 12  # stands in for a placeholder when counting SMS characters


def check_sms_length(ctx: FlowContext) -> None:
    for loc, _lang, text in ctx.texts:
        info = segment_info(PLACEHOLDER.sub(SAMPLE_FILL, text))
        if info.segments > 1:
            why = (f"UCS-2 because of {info.non_gsm!r}, 70 per segment"
                   if info.encoding == "UCS-2" else "GSM-7, 160 per segment")
            ctx.warn(loc, f"needs {info.segments} SMS segments ({info.units} characters, "
                          f"{why})")
