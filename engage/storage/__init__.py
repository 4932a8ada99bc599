"""Storage: SQLModel tables, engine/session factory, repository functions, migrations."""
