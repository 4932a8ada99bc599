"""YAML -> validated Flow, with precise problems ("FILE: nodes[3].ask.type: unknown type ...").

The loader reports every problem it can find in one pass (bad YAML with line and column,
unknown keys, dangling ``next``, unreachable nodes, missing translations, duplicate ids,
bad conditions) and warnings for messages that need more than one SMS segment. It is the
only part of ``engage.flow`` that reads files: gazetteers named by ``area`` questions are
embedded into the flow here. Reading is in ``yamlread``, the checks in ``validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engage.errors import UserError
from engage.flow import conditions
from engage.flow.model import Flow, build_flow
from engage.flow.validate import parse_duration, read_gazetteer, validate
from engage.flow.yamlread import Problem, Severity, read_yaml

__all__ = [
    "FlowError",
    "Problem",
    "Severity",
    "check_flow_file",
    "check_flow_text",
    "check_gazetteer_file",
    "flow_files",
    "flow_from_dict",
    "load_flow",
    "load_flows",
    "parse_duration",
    "parse_flow",
    "read_yaml",
]


class FlowError(UserError):
    """A flow cannot be loaded; ``problems`` holds every error found (one line each)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or "invalid flow")


def flow_from_dict(data: Mapping[str, Any]) -> Flow:
    """Rebuild a Flow from ``Flow.to_dict()`` (for example a stored FlowVersion)."""
    try:
        return build_flow(data)
    except (KeyError, TypeError, ValueError, AttributeError, conditions.ConditionError) as exc:
        problem = Problem("<stored flow>", "(root)", f"malformed flow data: {exc}")
        raise FlowError([problem]) from exc


def check_flow_text(
    text: str, source: str, *, areas_dir: Path | None = None
) -> tuple[Flow | None, list[Problem]]:
    """Validate flow YAML: (the Flow or None when there are errors, errors + warnings)."""
    data, problems = read_yaml(text, source)
    if data is None and problems:
        return None, problems
    canonical, problems = validate(data, source, areas_dir=areas_dir, problems=problems)
    if canonical is None or any(p.severity == "error" for p in problems):
        return None, problems
    try:
        return build_flow(canonical), problems
    except (KeyError, TypeError, ValueError, conditions.ConditionError) as exc:
        return None, [*problems, Problem(source, "(root)", f"cannot build flow: {exc}")]


def _default_areas_dir(path: Path) -> Path:
    local = path.parent / "areas"
    if local.is_dir():
        return local
    from engage.flow.areas import DEFAULT_GAZETTEER

    return DEFAULT_GAZETTEER.parent


def check_flow_file(path: str | Path) -> tuple[Flow | None, list[Problem]]:
    """Validate one flow file (never raises for a bad file; unreadable files are problems)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [Problem(str(path), "(file)", f"cannot read: {reason}")]
    return check_flow_text(text, str(path), areas_dir=_default_areas_dir(p))


def check_gazetteer_file(path: str | Path) -> list[Problem]:
    """Validate a gazetteer file (flows/areas/*.yaml): problems as for flows."""
    p = Path(path)
    try:
        stat = p.stat()
        _, problems = read_gazetteer(str(p), p.stem, stat.st_mtime_ns, stat.st_size)
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(path), "(file)", f"cannot read: {exc}")]
    return list(problems)


def parse_flow(text: str, source: str = "<flow>", *, areas_dir: Path | None = None) -> Flow:
    """Parse and validate flow YAML; raises FlowError listing every error."""
    if areas_dir is None:
        from engage.flow.areas import DEFAULT_GAZETTEER

        areas_dir = DEFAULT_GAZETTEER.parent
    flow, problems = check_flow_text(text, source, areas_dir=areas_dir)
    if flow is None:
        raise FlowError([p for p in problems if p.severity == "error"])
    return flow


def load_flow(path: str | Path) -> Flow:
    """Load and validate one flow file; raises FlowError."""
    flow, problems = check_flow_file(path)
    if flow is None:
        raise FlowError([p for p in problems if p.severity == "error"])
    return flow


def flow_files(directory: str | Path) -> list[Path]:
    """The flow files directly in ``directory`` (flows/areas/ and other folders are skipped)."""
    d = Path(directory)
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def load_flows(directory: str | Path) -> dict[str, Flow]:
    """Load every flow in ``directory``: flow id -> Flow. Raises FlowError for any bad file
    or two files with the same flow id."""
    flows: dict[str, Flow] = {}
    where: dict[str, Path] = {}
    problems: list[Problem] = []
    d = Path(directory)
    if not d.is_dir():
        raise FlowError([Problem(str(d), "(dir)", "not a directory")])
    for path in flow_files(d):
        flow, found = check_flow_file(path)
        problems.extend(p for p in found if p.severity == "error")
        if flow is None:
            continue
        if flow.id in flows:
            problems.append(Problem(str(path), "id",
                                    f"duplicate flow id {flow.id!r} (also in {where[flow.id]})"))
            continue
        flows[flow.id] = flow
        where[flow.id] = path
    if problems:
        raise FlowError(problems)
    return flows
