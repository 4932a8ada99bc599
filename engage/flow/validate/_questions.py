"""Questions: the type and its fields, consent, retries and timeouts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engage.flow.model import QUESTION_TYPES
from engage.flow.validate._context import ID, FlowContext, closest
from engage.flow.validate._durations import parse_duration
from engage.flow.validate._gazetteers import load_gazetteer
from engage.flow.validate._options import check_options
from engage.flow.validate._refs import check_ref
from engage.flow.validate._texts import check_text

ASK_KEYS = {"type", "text", "result", "optional", "scope", "options", "scale", "min", "max",
            "integer", "labels", "max_length", "gazetteer", "text_version", "required",
            "on_decline", "reprompt", "max_tries", "on_fail", "timeout"}
TIMEOUT_KEYS = {"after", "reminder", "next"}


def check_ask(
    ctx: FlowContext, loc: str, raw: Any, ids: Mapping[str, int], scope: str,
    defaults: Mapping[str, Any],
) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        ctx.error(loc, "expected a mapping with type, text and result")
        return None
    ctx.unknown_keys(loc, raw, ASK_KEYS)
    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        hint = closest(str(qtype), set(QUESTION_TYPES))
        suffix = f"; did you mean {hint!r}?" if hint else ""
        ctx.error(f"{loc}.type", f"unknown type {qtype!r} (expected one of "
                                 f"{', '.join(QUESTION_TYPES)}{suffix})")
        return None
    out: dict[str, Any] = {"type": qtype, "text": check_text(ctx, f"{loc}.text", raw.get("text"))}
    result = raw.get("result", "language" if qtype == "language" else None)
    if qtype == "consent":
        if "result" in raw:
            ctx.error(f"{loc}.result", "a consent question records consent, not a result")
        out["result"] = None
    elif not isinstance(result, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", result):
        ctx.error(f"{loc}.result", "expected a result name like 'safe_day'")
    else:
        out["result"] = result
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        ctx.error(f"{loc}.optional", "expected true or false")
    out["optional"] = bool(optional)
    q_scope = raw.get("scope", scope)
    if not isinstance(q_scope, str) or not ID.match(q_scope):
        ctx.error(f"{loc}.scope", "expected a consent scope name")
        q_scope = scope
    if qtype == "consent":
        out.update(_consent_fields(ctx, loc, raw, ids, scope, q_scope))
    else:
        out["scope"] = q_scope
        for key in ("text_version", "required", "on_decline"):
            if key in raw:
                ctx.error(f"{loc}.{key}", f"only consent questions have {key}")
    _type_fields(ctx, loc, qtype, raw, out)
    if raw.get("reprompt") is not None:
        out["reprompt"] = check_text(ctx, f"{loc}.reprompt", raw["reprompt"])
    out["max_tries"], out["on_fail"] = _retries(
        ctx, loc, raw, ids, defaults, required_consent=qtype == "consent" and out["required"])
    if raw.get("timeout") is not None:
        out["timeout"] = _timeout(ctx, f"{loc}.timeout", raw["timeout"], ids)
    return out


def _consent_fields(
    ctx: FlowContext, loc: str, raw: Mapping[str, Any], ids: Mapping[str, int], scope: str,
    consent_scope: str,
) -> dict[str, Any]:
    """What a consent question records: the scope it asks about and the text's version."""
    out: dict[str, Any] = {"scope": scope, "consent_scope": consent_scope}
    if "scope" not in raw:
        ctx.error(f"{loc}.scope", "a consent question needs the scope it asks about")
    version = raw.get("text_version")
    if not isinstance(version, str | int) or isinstance(version, bool) or version == "":
        ctx.error(f"{loc}.text_version", "a consent question needs text_version")
    out["text_version"] = str(version)
    required = raw.get("required", consent_scope == "surveys")
    out["required"] = bool(required)
    if raw.get("on_decline") is not None:
        target = check_ref(ctx, f"{loc}.on_decline", raw["on_decline"], ids)
        out["on_decline"] = target
    return out


def _retries(
    ctx: FlowContext, loc: str, raw: Mapping[str, Any], ids: Mapping[str, int],
    defaults: Mapping[str, Any], *, required_consent: bool,
) -> tuple[int, str]:
    """How many unclear replies a question takes (``max_tries``) and what happens after."""
    max_tries = raw.get("max_tries", defaults.get("max_tries", 3))
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or not (
        1 <= max_tries <= 10
    ):
        ctx.error(f"{loc}.max_tries", "expected a whole number from 1 to 10")
        max_tries = 3
    if required_consent:
        # required consent is never assumed: too many unclear replies end the run
        on_fail = raw.get("on_fail", "end")
        if on_fail == "skip":
            ctx.error(f"{loc}.on_fail", "a required consent question cannot be skipped")
            on_fail = "end"
    else:
        on_fail = raw.get("on_fail", defaults.get("on_fail", "skip"))
    if on_fail not in ("skip", "end"):
        on_fail = check_ref(ctx, f"{loc}.on_fail", on_fail, ids) or "skip"
    return max_tries, on_fail


def _type_fields(
    ctx: FlowContext, loc: str, qtype: str, raw: Mapping[str, Any], out: dict[str, Any]
) -> None:
    if qtype == "likert":
        lo, hi = 1, 5
        if raw.get("scale", 5) in (5, 10):
            hi = int(raw.get("scale", 5))
        else:
            ctx.error(f"{loc}.scale", "a Likert scale is 5 or 10 points")
            hi = 5
        out["min"], out["max"], out["integer"] = lo, hi, True
        labels = raw.get("labels") or {}
        if not isinstance(labels, Mapping):
            ctx.error(f"{loc}.labels", "expected a mapping of scale point -> text")
            labels = {}
        out["labels"] = {}
        for point, text in labels.items():
            if isinstance(point, bool) or not isinstance(point, int) or not lo <= point <= hi:
                ctx.error(f"{loc}.labels.{point}", f"expected a point from {lo} to {hi}")
                continue
            out["labels"][str(point)] = check_text(ctx, f"{loc}.labels.{point}", text)
    elif qtype in ("choice", "multi_choice", "language"):
        out["options"] = check_options(ctx, loc, qtype, raw.get("options"))
    elif qtype == "number":
        low, high = raw.get("min"), raw.get("max")
        for key, v in (("min", low), ("max", high)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                ctx.error(f"{loc}.{key}", "expected a number")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            ctx.error(loc, "min is greater than max")
        out["min"] = low if isinstance(low, int | float) and not isinstance(low, bool) else None
        out["max"] = (
            high if isinstance(high, int | float) and not isinstance(high, bool) else None
        )
        out["integer"] = bool(raw.get("integer", False))
    elif qtype == "text":
        max_length = raw.get("max_length", 500)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not (
            1 <= max_length <= 2000
        ):
            ctx.error(f"{loc}.max_length", "expected a whole number from 1 to 2000")
            max_length = 500
        out["max_length"] = max_length
    elif qtype == "area":
        name = raw.get("gazetteer", "baltimore")
        out["gazetteer"] = name
        load_gazetteer(ctx, f"{loc}.gazetteer", name)
    extra = {"scale", "labels"} if qtype != "likert" else set()
    extra |= {"options"} if qtype not in ("choice", "multi_choice", "language") else set()
    extra |= {"min", "max", "integer"} if qtype != "number" else set()
    extra |= {"max_length"} if qtype != "text" else set()
    extra |= {"gazetteer"} if qtype != "area" else set()
    for key in sorted(extra & set(raw)):
        ctx.error(f"{loc}.{key}", f"{qtype} questions do not use {key}")


def _timeout(ctx: FlowContext, loc: str, raw: Any, ids: Mapping[str, int]) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        ctx.error(loc, "expected a mapping with after, reminder and next")
        return None
    ctx.unknown_keys(loc, raw, TIMEOUT_KEYS)
    after = parse_duration(raw.get("after"))
    if after is None:
        ctx.error(f"{loc}.after", "expected a duration like 30m, 24h or 7d")
        after = 86400
    out: dict[str, Any] = {"after": after, "reminder": None, "next": None}
    if raw.get("reminder") is not None:
        out["reminder"] = check_text(ctx, f"{loc}.reminder", raw["reminder"])
    if raw.get("next") is not None:
        out["next"] = check_ref(ctx, f"{loc}.next", raw["next"], ids)
    if out["reminder"] is None and out["next"] is None:
        ctx.error(loc, "a timeout needs a reminder, a next node, or both")
    return out
