"""Flow validation: walks raw YAML data once, collecting every problem with its location and
building the canonical dict that ``model.build_flow`` turns into a Flow.

Each private module checks one thing and reports through a shared ``FlowContext``, in the
order the walk meets it (the order users see):

- ``_flow``: the header fields, node ids and start; then the whole-flow checks below
- ``_nodes``: say/ask/end nodes and their branches (``_refs``: links between nodes)
- ``_questions``: question types and their fields, consent, retries, timeouts;
  ``_options``: the options of choice and language questions
- ``_texts``: texts and translations; ``_names``: results, context and placeholders
- ``_graph``: reachability, ``on_decline``, loops of say nodes
- ``_sms_length``: texts that take more than one SMS segment
- ``_gazetteers``, ``_durations``: the gazetteer files and durations flows refer to
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engage.flow.validate._context import FlowContext
from engage.flow.validate._durations import parse_duration
from engage.flow.validate._flow import check_flow
from engage.flow.validate._gazetteers import read_gazetteer
from engage.flow.yamlread import Problem

__all__ = ["parse_duration", "read_gazetteer", "validate"]


def validate(
    raw: Any, source: str, *, areas_dir: Path | None = None, problems: Iterable[Problem] = ()
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The canonical flow dict (None if nothing can be built) and every problem, in order.

    ``problems`` are those found before (reading the YAML); they come first.
    """
    context = FlowContext(source, areas_dir, list(problems))
    try:
        canonical = check_flow(context, raw)
    except Exception as exc:  # a safety net: a malformed flow must never become a traceback
        context.error("(root)", f"cannot check this flow ({type(exc).__name__}: {exc}); "
                                "please report this together with the file")
        canonical = None
    return canonical, context.problems

