"""Gazetteers named by ``area`` questions: read once per file version, embedded in the flow."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from engage.flow.areas import GazetteerError, gazetteer_from_dict
from engage.flow.validate._context import ID, FlowContext
from engage.flow.yamlread import Problem, read_yaml


@lru_cache(maxsize=32)
def read_gazetteer(
    path: str, name: str, mtime_ns: int, size: int
) -> tuple[dict[str, Any] | None, tuple[Problem, ...]]:
    """Read and check a gazetteer once per file version (mtime and size are the cache key)."""
    data, problems = read_yaml(Path(path).read_text(encoding="utf-8"), path)
    if problems:
        return None, tuple(problems)
    try:
        return gazetteer_from_dict(data, name).to_dict(), ()
    except GazetteerError as exc:
        return None, tuple(Problem(path, where, message) for where, message in exc.problems)


def load_gazetteer(ctx: FlowContext, loc: str, name: Any) -> None:
    if not isinstance(name, str) or not ID.match(name):
        ctx.error(loc, "expected a gazetteer name like 'baltimore'")
        return
    if name in ctx.gazetteers:
        return
    if ctx.areas_dir is None:
        ctx.error(loc, f"no areas directory to find gazetteer {name!r}")
        return
    path = ctx.areas_dir / f"{name}.yaml"
    if not path.is_file():
        ctx.error(loc, f"gazetteer {name!r} not found ({path.name} is not in "
                       f"{ctx.areas_dir})")
        return
    stat = path.stat()
    data, problems = read_gazetteer(str(path), name, stat.st_mtime_ns, stat.st_size)
    ctx.problems.extend(problems)
    if data is not None:
        ctx.gazetteers[name] = data
