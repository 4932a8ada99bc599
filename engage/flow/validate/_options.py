"""The options of choice, multi-choice and language questions, with their synonyms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engage.flow.model import LANGUAGE_NAMES
from engage.flow.validate._context import FlowContext
from engage.flow.validate._texts import check_text

OPTION_KEYS = {"value", "label", "synonyms", "category", "exclusive"}


def check_options(ctx: FlowContext, loc: str, qtype: str, raw: Any) -> list[dict[str, Any]]:
    if qtype == "language" and raw is None:
        return [
            {"value": lang, "label": dict.fromkeys(ctx.languages, LANGUAGE_NAMES.get(
                lang, (lang, ()))[0]), "synonyms": list(LANGUAGE_NAMES.get(lang, ("", ()))[1]),
             "category": None, "exclusive": False}
            for lang in ctx.languages
        ]
    if not isinstance(raw, list) or len(raw) < 2:
        ctx.error(f"{loc}.options", "expected a list of at least two options")
        return []
    out: list[dict[str, Any]] = []
    values: set[str] = set()
    for k, option in enumerate(raw):
        oloc = f"{loc}.options[{k}]"
        if not isinstance(option, Mapping):
            ctx.error(oloc, "expected a mapping with value and label")
            continue
        ctx.unknown_keys(oloc, option, OPTION_KEYS)
        value = option.get("value")
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            ctx.error(f"{oloc}.value", "expected a value")
            continue
        value = str(value)
        if value in values:
            ctx.error(f"{oloc}.value", f"duplicate option value {value!r}")
        values.add(value)
        if qtype == "language" and value not in ctx.languages:
            ctx.error(f"{oloc}.value", f"{value!r} is not one of the flow's languages")
        label = check_text(ctx, f"{oloc}.label", option.get("label"), allow_plain=True) or {}
        synonyms_raw = option.get("synonyms", [])
        synonyms: list[str] = []
        if isinstance(synonyms_raw, Mapping):
            for lang, words in synonyms_raw.items():
                if lang not in ctx.languages:
                    ctx.error(f"{oloc}.synonyms.{lang}", f"language {lang!r} is not in "
                                                         "languages")
                if isinstance(words, list):
                    synonyms.extend(str(w) for w in words)
                else:
                    ctx.error(f"{oloc}.synonyms.{lang}", "expected a list of words")
        elif isinstance(synonyms_raw, list):
            synonyms = [str(w) for w in synonyms_raw]
        else:
            ctx.error(f"{oloc}.synonyms", "expected a list, or a mapping language -> list")
        if qtype == "language":
            synonyms.extend(LANGUAGE_NAMES.get(value, ("", ()))[1])
        category = option.get("category")
        exclusive = option.get("exclusive", False)
        if exclusive and qtype != "multi_choice":
            ctx.error(f"{oloc}.exclusive", "only multi_choice options can be exclusive")
        out.append({"value": value, "label": label, "synonyms": synonyms,
                    "category": None if category is None else str(category),
                    "exclusive": bool(exclusive)})
    return out
