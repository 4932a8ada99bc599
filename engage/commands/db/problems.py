"""One readable line for a database failure in an analytics command (never a traceback)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError


def database_problem(exc: SQLAlchemyError) -> str:
    """The driver's first line (no SQL, no parameters) and what to try."""
    orig = getattr(exc, "orig", None)
    detail = str(orig if orig is not None else exc).strip().splitlines()
    first = detail[0][:200] if detail else type(exc).__name__
    missing_table = "no such table" in first or ("relation" in first and "does not exist" in first)
    hint = " (run `engage db upgrade` first?)" if missing_table else ""
    return f"database error: {first}{hint}"
