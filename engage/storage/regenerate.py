"""Regenerate the initial migration from the current models (lead, before a release).

    .venv/bin/python -m engage.storage.regenerate [--message "initial schema"]

Deletes engage/storage/migrations/versions/*.py, autogenerates one revision against an empty
temporary SQLite database (so it contains every table in ``engage.storage.tables``), and checks
that an upgrade from scratch leaves nothing for autogenerate to add. Only for pre-release
schemas: once a database in production has been upgraded, add new revisions instead
(``alembic -c engage/storage/alembic.ini revision --autogenerate``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command

from engage.storage.db import MIGRATIONS_DIR, alembic_config, make_engine, metadata


def pending_diff(url: str) -> list[object]:
    """What autogenerate would still change after ``upgrade head`` (empty = agreement)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata()))
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--message", default="initial schema")
    args = parser.parse_args()
    for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'regen.sqlite3'}"
        config = alembic_config(url)
        command.revision(config, message=args.message, autogenerate=True, rev_id="0001")
        command.upgrade(config, "head")
        diff = pending_diff(url)
    if diff:
        raise SystemExit(f"migration and models still differ: {diff}")
    print("regenerated", *(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")))


if __name__ == "__main__":
    main()
