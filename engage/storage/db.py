"""Engine and session factory: SQLite (WAL, serialized writers) or PostgreSQL.

SQLite writers start with ``BEGIN IMMEDIATE`` so a transaction that will write takes the write
lock up front: two transactions can never both read and then deadlock on the upgrade to a
write lock (SQLite would answer "database is locked" immediately, ignoring busy_timeout).
The price: on SQLite, an open session holds the write lock until it closes, so do not nest
sessions in one thread (the inner one waits for the outer) and keep transactions short; use
``read_only(engine)`` for long reads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, SQLModel

from engage.errors import RetryableError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit is not fsynced (the WAL is, at checkpoints). Survives an
        # application crash or kill; a power loss / OS crash can lose the last commits (never
        # corrupts). PostgreSQL keeps full durability (synchronous_commit stays on).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")  # fewer fsyncing checkpoints
        cursor.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten, not freed
        cursor.close()

    return on_connect


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    statement = "BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE"
    # Straight to the driver: this runs once per transaction on the inbound hot path, and
    # a full SQLAlchemy execution costs several times the statement itself. A busy/locked
    # database still surfaces as SQLAlchemy's OperationalError (-> RetryableError).
    try:
        cast(sqlite3.Connection, connection.connection.driver_connection).execute(statement)
    except sqlite3.OperationalError as exc:
        raise OperationalError(statement, None, exc) from exc


class _WriterLock:
    """A re-entrant lock that waits at most the database's busy timeout, then raises the
    error SQLite itself would (``RetryableError``): never a wait without end."""

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.RLock()
        self.timeout_s = timeout_s

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self.timeout_s):
            raise RetryableError("database is busy (another writer in this process)")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


_WRITERS: dict[str, _WriterLock] = {}
_WRITERS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The lock every write transaction on this SQLite database takes in this process.

    SQLite has one writer at a time anyway (``BEGIN IMMEDIATE``); without this, threads of one
    process (inbound batches, the dispatcher, the scheduler) would meet inside SQLite's busy
    handler, which sleeps and polls with growing back-off: tens to hundreds of milliseconds
    lost per collision. A Python lock hands over at once. Re-entrant, so a batch that holds
    it can open its transaction; bounded by the engine's busy timeout, as SQLite's own wait.
    PostgreSQL and read-only engines: no lock (row locks)."""
    if not is_sqlite(engine) or engine.get_execution_options().get("sqlite_begin") == "DEFERRED":
        return nullcontext()
    url = str(engine.url)
    lock = _WRITERS.get(url)
    if lock is None:
        with _WRITERS_GUARD:
            lock = _WRITERS.setdefault(
                url, _WriterLock(_BUSY_TIMEOUTS.get(url, SQLITE_BUSY_TIMEOUT_MS) / 1000))
    return lock


_BUSY_TIMEOUTS: dict[str, int] = {}  # database URL -> the busy timeout its engine was made with


def read_only(engine: Engine) -> Engine:
    """The same engine, but SQLite transactions begin DEFERRED: for long reads (exports,
    reports) that must not hold the write lock. Never write through it on SQLite."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def private_file(path: Path) -> None:
    """Create the SQLite file's directory owner-only (0700) and the file itself 0600 before
    SQLite does (its -wal and -shm files take the database file's permissions)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def checkpoint_wal(engine: Engine) -> None:
    """Fold the WAL into the database file and truncate it (after an erasure: the erased
    text must not survive in the WAL). Best effort: a reader in the way leaves it for the
    next checkpoint, which secure_delete makes just as final."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()  # no BEGIN: a checkpoint inside a transaction cannot finish
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


class EngineOptions(TypedDict, total=False):
    """Extra ``make_engine`` keyword arguments for a backend (see ``engine_options``)."""

    connect_args: dict[str, object]


def engine_options(url: str) -> EngineOptions:
    """No server-side prepared statements on PostgreSQL: a cached *generic* plan for
    ``dedupe_key LIKE $1`` is a sequential scan of the whole outbox (the pattern is unknown when
    it is planned), which makes a large fan-out quadratic. Custom plans use the prefix index.
    ``engage serve`` and every command use the same options."""
    if sa.make_url(url).get_backend_name() != "postgresql":
        return {}
    return {"connect_args": {"prepare_threshold": None}}


def make_engine(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **kwargs: Any
) -> Engine:
    """Create an engine for ``url`` with the settings engage relies on.

    SQLite: WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` (see module docstring);
    the parent directory is created. PostgreSQL: ``pool_pre_ping`` so a restarted server shows
    up as a retryable error rather than a dead pooled connection. ``busy_timeout_ms``: how
    long a SQLite writer waits for the lock before the runtime reports a retryable error.
    """
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))
        connect_args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = sa.create_engine(sa_url, connect_args=connect_args, **kwargs)
        _BUSY_TIMEOUTS[str(engine.url)] = busy_timeout_ms
        writer = _WRITERS.get(str(engine.url))
        if writer is not None:  # a later engine on the same file sets the wait anew
            writer.timeout_s = busy_timeout_ms / 1000
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(sa_url, **kwargs)


def metadata() -> sa.MetaData:
    """The shared metadata with every table module imported (see ``engage.storage.tables``)."""
    import engage.storage.tables  # noqa: F401  (registers every table)

    return SQLModel.metadata


def create_schema(engine: Engine) -> None:
    """Create every table directly (tests, the simulator). Production uses ``upgrade``."""
    metadata().create_all(engine)


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at the packaged migrations, usable from any cwd."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (``engage db upgrade``)."""
    from alembic import command

    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite" and sa_url.database \
            and sa_url.database != ":memory:" and not sa_url.database.startswith("file:"):
        private_file(Path(sa_url.database))
    command.upgrade(alembic_config(url), revision)


def new_session(engine: Engine, *, autoflush: bool = True) -> Session:
    """A session whose objects stay readable after commit (outcomes are built from them)."""
    return Session(engine, expire_on_commit=False, autoflush=autoflush)


@contextmanager
def session_scope(engine: Engine, *, autoflush: bool = True) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    Database connectivity/lock failures surface as ``RetryableError`` so webhooks answer 5xx
    and the provider retries instead of the message being dropped. On SQLite the process's
    ``writer_lock`` is held throughout (see there).
    """
    with writer_lock(engine):
        yield from _session_transaction(engine, autoflush)


def _session_transaction(engine: Engine, autoflush: bool) -> Iterator[Session]:
    session = new_session(engine, autoflush=autoflush)
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise RetryableError(f"database unavailable: {type(exc.orig).__name__}") from exc
    except DBAPIError as exc:
        session.rollback()
        if exc.connection_invalidated:
            raise RetryableError("database connection lost") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
