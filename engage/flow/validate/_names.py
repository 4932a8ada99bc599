"""Names that conditions and ``{{placeholders}}`` refer to: results a question stores,
``context.NAME``, ``language`` and (in conditions) the current answer."""

from __future__ import annotations

from engage.flow.model import QUESTION_TYPES
from engage.flow.templating import PLACEHOLDER, placeholders
from engage.flow.validate._context import FlowContext

CONDITION_ROOTS = {"answer", "value", "number", "category", "language", *QUESTION_TYPES}


def check_name(ctx: FlowContext, loc: str, name: str, *, condition: bool = False) -> None:
    root, _, rest = name.partition(".")
    if root == "results" and rest:
        if rest not in ctx.result_names:
            ctx.error(loc, f"unknown result {rest!r} (no question stores it)")
    elif (root == "context" and rest) or name == "language" or (
        condition and (name in CONDITION_ROOTS or name in ctx.result_names)
    ):
        return
    else:
        roots = "answer, number, category, " if condition else ""
        ctx.error(loc, f"unknown name {name!r} (use {roots}results.NAME, context.NAME "
                       "or language)")


def check_placeholders(ctx: FlowContext) -> None:
    """Every ``{{name}}`` in every text is well formed and names something that exists."""
    for loc, _lang, text in ctx.texts:
        for name in placeholders(text):
            if not PLACEHOLDER.fullmatch("{{" + name + "}}"):
                ctx.error(loc, f"bad placeholder {{{{{name}}}}} (only names like "
                               "results.area are allowed)")
            else:
                check_name(ctx, loc, name)
