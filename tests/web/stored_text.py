"""Everything the database holds, as one text to search for what must not be there."""

from __future__ import annotations

import sqlalchemy as sa

from engage.storage.db import metadata


def everything_stored(engine: sa.Engine) -> str:
    """Every value of every column of every table, as text (encrypted bytes stay bytes)."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata().sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.extend(str(value) for value in row if not isinstance(value, bytes))
    return "\n".join(parts)
