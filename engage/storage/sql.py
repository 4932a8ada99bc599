"""Prepared statements run on the DBAPI connection: the hot paths without the ORM's overhead.

Why: one inbound message is about six short statements. Through SQLAlchemy's execution layer
and the ORM each one costs several times the statement itself (measured on the runtime
benchmark: 2.0 ms of CPU per message, against 0.24 ms for the same SQL on the driver). So the
hot paths keep SQLAlchemy for what it is best at -- the schema, dialects, compilation, types,
the connection pool and transactions -- and skip it per call:

- a ``Statement`` is built from the SQLModel tables (one schema, one source of truth) and
  compiled once per dialect; SQLAlchemy's own bind/result processors are applied around the
  driver call, so values are stored and read back exactly as the ORM stores and reads them;
- a ``Tx`` is the current transaction's DBAPI connection, taken from a SQLAlchemy Connection
  or Session, so raw statements and ORM work share one transaction;
- driver errors come out as SQLAlchemy's exceptions (``OperationalError``, ``IntegrityError``)
  with parameters hidden (they can carry message bodies), and a dropped connection is
  invalidated in the pool, exactly as SQLAlchemy's own execution path would do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session

from engage.errors import RetryableError

Params = Mapping[str, Any]
_TX_KEY = "engage.tx"
_trace = threading.local()  # statement_log(): the SQL this thread ran through a Tx


@contextmanager
def statement_log() -> Iterator[list[str]]:
    """Collect the SQL text every ``Tx`` runs in this thread (tests, debugging): these
    statements bypass SQLAlchemy's ``before_cursor_execute`` event."""
    previous = getattr(_trace, "log", None)
    collected: list[str] = []
    _trace.log = collected
    try:
        yield collected
    finally:
        _trace.log = previous


def _same(value: Any) -> Any:
    return value


# Recent values each bind processor converted, and their results: one message binds the
# same ``now`` to half a dozen timestamp columns (and ``wake_at`` beside it), and converting a
# datetime for SQLite is the costliest step of binding. Every UTC timestamp column of a
# dialect shares one processor, so they share the memo too. Keyed by the value object itself
# (identity, kept alive in the entry): no hashing of aware datetimes. Bounded; a race between
# threads can only cost a recomputation.
_MEMO_SIZE = 64
_RECENT: dict[Callable[[Any], Any], dict[Any, Any]] = {}
_SHARED_PROCESSORS: dict[tuple[type, str], Callable[[Any], Any] | None] = {}


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    from engage.storage.tables import UTCDateTime  # stateless: one processor per dialect

    if not isinstance(type_, UTCDateTime):
        return type_._cached_bind_processor(dialect)  # type: ignore[no-any-return]
    key = (UTCDateTime, dialect.name)
    if key not in _SHARED_PROCESSORS:
        _SHARED_PROCESSORS[key] = type_._cached_bind_processor(dialect)
    return _SHARED_PROCESSORS[key]


def _processed(proc: Callable[[Any], Any], value: Any) -> Any:
    recent = _RECENT.get(proc)
    if recent is None:
        recent = _RECENT.setdefault(proc, {})
    hit = recent.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    out = proc(value)
    if len(recent) >= _MEMO_SIZE:
        recent.clear()
    recent[id(value)] = (value, out)
    return out


class Prepared:
    """One statement compiled for one dialect, with its type processors."""

    __slots__ = ("binds", "defaults", "names", "positional", "results", "sql")

    def __init__(self, clause: ClauseElement, dialect: Dialect) -> None:
        # the SQL compiler's attributes (binds, positiontup) are not on the ``Compiled`` stub
        compiled: Any = clause.compile(dialect=dialect)
        if compiled.post_compile_params:  # e.g. col.in_([...]): its SQL changes per call
            raise ValueError(f"cannot prepare {clause}: an IN list's SQL changes per call; "
                             "write it as ORs, or as ANY(array) on PostgreSQL")
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or compiled.binds)
        procs_by_name = {name: _bind_processor(bind.type, dialect)
                         for name, bind in compiled.binds.items()}
        # literals in the statement (LIMIT 1, status = 'waiting') are binds with a value
        self.defaults: dict[str, Any] = {
            name: (procs_by_name[name] or _same)(bind.effective_value)
            for name, bind in compiled.binds.items() if not bind.required}
        self.binds: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (name, proc) for name, proc in procs_by_name.items()
            if proc is not None and name not in self.defaults)
        columns = getattr(clause, "selected_columns", None)
        if columns is None:
            columns = getattr(clause, "_returning", ()) or ()
        procs = [getattr(c, "type", sa.types.NULLTYPE)._cached_result_processor(dialect, None)
                 for c in columns]
        self.results: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (i, p) for i, p in enumerate(procs) if p is not None)

    def parameters(self, values: Params) -> Sequence[Any] | dict[str, Any]:
        merged = {**self.defaults, **values} if self.defaults else dict(values)
        for name, proc in self.binds:
            value = merged.get(name)
            if value is not None:  # every processor here passes None through unchanged
                merged[name] = _processed(proc, value)
        if self.positional:
            return tuple([merged[name] for name in self.names])
        return merged

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(raw)
        out = list(raw)
        for i, proc in self.results:
            out[i] = proc(out[i])
        return tuple(out)


class Statement:
    """A statement built from the tables, compiled lazily once per dialect.

    ``build`` is either a ready clause or ``f(dialect_name) -> clause`` for statements whose
    shape depends on the backend (``ON CONFLICT`` inserts, ``FOR UPDATE``)."""

    __slots__ = ("_build", "_by_dialect", "_lock")

    def __init__(self, build: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._build = build
        self._by_dialect: dict[str, Prepared] = {}
        self._lock = threading.Lock()

    def prepared(self, dialect: Dialect) -> Prepared:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                build = self._build
                clause = build if isinstance(build, ClauseElement) else build(dialect.name)
                found = self._by_dialect.setdefault(dialect.name, Prepared(clause, dialect))
        return found


class Tx:
    """The DBAPI connection of one open transaction (see the module docstring).

    Rare paths that need the ORM get ``orm_session()``: a Session joined to this same transaction
    (created on first use; it never commits or rolls back the transaction itself)."""

    __slots__ = ("_caller_session", "_cursor", "_deferred", "_on_commit", "_on_rollback",
                 "_pipeline", "_session", "connection", "deferring", "dialect", "info", "name",
                 "raw")

    def __init__(self, connection: sa.Connection, session: Session | None = None) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.name: str = connection.dialect.name
        self.raw: Any = connection.connection.driver_connection
        self._cursor: Any = None
        self._session = session
        self._caller_session = session  # it owns the transaction: it commits, not us
        self._on_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], None]] = []
        self._pipeline: Any = None  # (psycopg's pipeline context, its Pipeline) while open
        # ``defer``: statement -> parameter sets, flushed as one executemany each (see there)
        self.deferring = False
        self._deferred: dict[Statement, list[Params]] = {}
        self.info: dict[str, Any] = {}

    @classmethod
    def of_session(cls, session: Session) -> Tx:
        """The Tx of ``session``'s current transaction (begun if needed)."""
        connection = session.connection()
        found: Tx | None = session.info.get(_TX_KEY)
        if found is None or found.connection is not connection:
            found = cls(connection, session)
            session.info[_TX_KEY] = found
        return found

    @property
    def is_pg(self) -> bool:
        return self.name == "postgresql"

    @property
    def owns_transaction(self) -> bool:
        """True for the Tx ``transaction()`` made for one transaction (so ``info`` lives and
        dies with it); False for a Session's, which may outlive its transactions."""
        return self._caller_session is None

    def start_pipeline(self) -> None:
        """PostgreSQL: from here on, statements whose results nobody reads (``send``) go out
        without waiting for the server; a read, a row count or the commit syncs. One round
        trip then carries several statements (psycopg's pipeline mode)."""
        if self.is_pg and self._pipeline is None:
            manager = self.raw.pipeline()
            self._pipeline = (manager, manager.__enter__())

    def end_pipeline(self) -> None:
        """Sync and leave pipeline mode (before ORM work, which reads row counts)."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                pipeline[0].__exit__(None, None, None)
            except self.dialect.loaded_dbapi.Error as exc:
                self._raise(exc, "(pipeline sync)")

    def orm_session(self) -> Session:
        """An ORM Session joined to this transaction, for the rare paths that need the ORM.

        Getting it first writes the deferred statements and leaves pipeline mode (the ORM
        reads row counts and results at once), so the statements after it each wait for the
        server: call it only where the ORM is needed, never on the hot path."""
        self.flush_deferred()
        self.end_pipeline()
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False,
                                    autoflush=False)
            self._session.info[_TX_KEY] = self  # repo calls through it find this Tx
        return self._session

    def flush(self) -> None:
        """Write everything pending: deferred statements, then the joined session's changes."""
        self.flush_deferred()
        if self._session is not None and (self._session.new or self._session.dirty
                                          or self._session.deleted):
            self._session.flush()

    def defer(self, statement: Statement, params: Params) -> None:
        """A write nobody reads back in this transaction until the next read: while
        ``deferring`` (a batch of several messages) it is queued, and every queued set of the
        same statement goes out as one ``executemany`` (one driver call instead of one per
        row; on PostgreSQL a pipeline). Any read, ORM use or the commit flushes the queue
        first, so nothing ever reads around a queued write. Only for statements whose queued
        rows may run grouped by statement without changing the result: each statement's rows
        keep their order, but two different statements' rows do not interleave."""
        if not self.deferring:
            self.send(statement, params)
            return
        queued = self._deferred.get(statement)
        if queued is None:
            queued = self._deferred[statement] = []
        queued.append(params)

    def flush_deferred(self) -> None:
        if not self._deferred:
            return
        pending, self._deferred = self._deferred, {}
        for statement, rows in pending.items():
            self._execute_many(statement, rows)

    def _execute_many(self, statement: Statement, rows: Sequence[Params]) -> None:
        prepared = statement.prepared(self.dialect)
        if len(rows) == 1:
            self._execute(prepared, prepared.parameters(rows[0]))
        elif rows:
            self._execute(prepared, [prepared.parameters(row) for row in rows], many=True)

    def close(self) -> None:
        if self._pipeline is not None:  # an error unwinds through here: do not mask it
            pipeline, self._pipeline = self._pipeline, None
            with contextlib.suppress(Exception):
                pipeline[0].__exit__(None, None, None)
        if self._session is not None and self._session is not self._caller_session:
            self._session.close()  # a session we made; a caller's session stays theirs
        self._session = None

    def after_commit(self, committed: Callable[[], None],
                     rolled_back: Callable[[], None]) -> None:
        """Call ``committed`` once this transaction commits, ``rolled_back`` if it does not
        (caches that must only learn what other transactions can already see)."""
        owner = self._caller_session
        if owner is None:
            self._on_commit.append(committed)
            self._on_rollback.append(rolled_back)
            return
        event.listen(owner, "after_commit", lambda _s: committed(), once=True)
        event.listen(owner, "after_rollback", lambda _s: rolled_back(), once=True)

    def _settled(self, committed: bool) -> None:
        callbacks = self._on_commit if committed else self._on_rollback
        self._on_commit, self._on_rollback = [], []
        for callback in callbacks:
            callback()

    # -- execution ------------------------------------------------------------------------
    def _cursor_for(self) -> Any:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self.raw.cursor()
        return cursor

    def _execute(self, prepared: Prepared, args: Any, *, many: bool = False,
                 cursor: Any = None) -> Any:
        if cursor is None:
            cursor = self._cursor_for()
        log = getattr(_trace, "log", None)
        if log is not None:
            log.append(prepared.sql)
        try:
            if many:
                cursor.executemany(prepared.sql, args)
            else:
                cursor.execute(prepared.sql, args)
        except self.dialect.loaded_dbapi.Error as exc:
            self._raise(exc, prepared.sql)
        return cursor

    def _run(self, statement: Statement, params: Params) -> tuple[Any, Prepared]:
        if self._deferred:  # every statement goes after the queued writes, never around them
            self.flush_deferred()
        prepared = statement.prepared(self.dialect)
        return self._execute(prepared, prepared.parameters(params)), prepared

    def _raise(self, exc: Any, sql: str) -> NoReturn:  # exc: the driver's DBAPI error
        """Re-raise a DBAPI error as SQLAlchemy would (a lost connection invalidated)."""
        invalidated = self.dialect.is_disconnect(exc, self.raw, self._cursor)
        if invalidated:
            self.connection.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, self.dialect.loaded_dbapi.Error,
                                  hide_parameters=True, connection_invalidated=invalidated,
                                  dialect=self.dialect) from exc

    def execute(self, statement: Statement, params: Params | None = None) -> int:
        """Run a statement that returns no rows; the affected row count."""
        cursor, _ = self._run(statement, params or {})
        if self._pipeline is not None:
            self._sync()
        return int(cursor.rowcount or 0)

    def send(self, statement: Statement, params: Params | None = None) -> None:
        """Run a statement whose result nobody reads: pipelined on PostgreSQL (errors show
        at the next sync, which is at the latest the commit), plain elsewhere."""
        self._run(statement, params or {})

    def send_many(self, statement: Statement, rows: Sequence[Params]) -> None:
        """Run a statement that returns no rows once per parameter set, as one
        ``executemany`` (queued writes go first)."""
        if self._deferred:
            self.flush_deferred()
        self._execute_many(statement, rows)

    def _sync(self) -> None:
        try:
            self._pipeline[1].sync()
        except self.dialect.loaded_dbapi.Error as exc:
            self._raise(exc, "(pipeline sync)")

    def all(self, statement: Statement, params: Params | None = None) -> list[tuple[Any, ...]]:
        cursor, prepared = self._run(statement, params or {})
        return [prepared.row(raw) for raw in cursor.fetchall()]

    def all_later(self, statement: Statement,
                  params: Params | None = None) -> Callable[[], list[tuple[Any, ...]]]:
        """A read whose rows are wanted later: in a PostgreSQL pipeline it goes out now, on
        a cursor of its own, and its rows arrive with the next sync (the next read, or the
        commit), so two reads, or a read and the COMMIT, share one round trip. Call the
        result for the rows (after the commit, if it was the last statement). Elsewhere it
        runs now."""
        if self._pipeline is None:
            ready = self.all(statement, params)
            return lambda: ready
        if self._deferred:
            self.flush_deferred()
        prepared = statement.prepared(self.dialect)
        cursor = self._execute(prepared, prepared.parameters(params or {}),
                               cursor=self.raw.cursor())

        def rows() -> list[tuple[Any, ...]]:
            try:
                fetched = cursor.fetchall()
            except self.dialect.loaded_dbapi.Error as exc:
                self._raise(exc, prepared.sql)
            finally:
                cursor.close()
            return [prepared.row(raw) for raw in fetched]

        return rows

    def first(self, statement: Statement, params: Params | None = None) -> tuple[Any, ...] | None:
        rows = self.all(statement, params)  # drained: no statement is left in progress
        return rows[0] if rows else None

    def scalar(self, statement: Statement, params: Params | None = None) -> Any:
        row = self.first(statement, params)
        return row[0] if row is not None else None


def as_tx(store: Session | Tx) -> Tx:
    """Repository functions take a Session (ORM callers) or a Tx (hot paths): one code path."""
    return store if isinstance(store, Tx) else Tx.of_session(store)


class KeptConnection:
    """A connection kept checked out by one writer that runs transaction after transaction
    (the runtime's group-commit queue): it saves the pool's check-out, reset and check-in
    around every transaction (measured: 82 -> 28 us per empty transaction on SQLite, ~10% of
    an inbound message). Any error inside a transaction discards it, so a broken or invalidated
    connection is never reused; the next transaction checks out a fresh one (on PostgreSQL
    that skips the pool's pre-ping: a server restart costs the first batch a retryable error).
    Only one thread may use it at a time (one batch runs at a time)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: sa.Connection | None = None

    def get(self) -> sa.Connection:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self._connection = self.engine.connect()
        return connection

    def discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    close = discard


@contextmanager
def transaction(engine: Engine, *, pipelined: bool = False,
                keep: KeptConnection | None = None) -> Iterator[Tx]:
    """One transaction: commit on success, roll back on any error. On a pooled connection,
    or on ``keep``'s (see ``KeptConnection``). ``pipelined``: PostgreSQL pipeline mode for
    ``Tx.send`` (see ``Tx.start_pipeline``).

    As ``session_scope``: connectivity and lock failures surface as ``RetryableError`` so a
    webhook answers 5xx and the provider retries instead of the message being dropped."""
    from engage.storage.db import writer_lock

    with writer_lock(engine):
        yield from _transaction(engine, pipelined, keep)


def _transaction(engine: Engine, pipelined: bool, keep: KeptConnection | None) -> Iterator[Tx]:
    try:
        connection = keep.get() if keep is not None else engine.connect()
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {type(exc.orig).__name__}") from exc
    failed = True
    tx: Tx | None = None
    committed = False
    try:
        with connection.begin():  # SQLite: BEGIN IMMEDIATE (see storage.db)
            tx = Tx(connection)
            if pipelined:
                tx.start_pipeline()
            yield tx
            tx.flush()
        # the COMMIT went out inside the pipeline (one round trip with the last writes)
        tx.end_pipeline()
        committed = True
        failed = False
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {type(exc.orig).__name__}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise RetryableError("database connection lost") from exc
        raise
    finally:
        if tx is not None:
            tx.close()
            tx._settled(committed)
        if keep is None:
            connection.close()
        elif failed:
            keep.discard()
