"""SQL connections for the store: engine set-up, read and write transactions, times.

SQLite runs in WAL mode; writes take ``BEGIN IMMEDIATE`` (concurrent writers queue instead
of failing to upgrade a lock) while reads ``BEGIN`` deferred (a WAL snapshot no writer
blocks). Times are stored as float seconds since the epoch (UTC).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hybridjobs.store.migrations import migrate

_READ_ONLY = "hybridjobs_read_only"
_IDLE_MS = 10_000
"""How long PostgreSQL lets a session sit idle inside a transaction before ending it."""
_STATEMENT_MS = 60_000
"""The longest any statement (a lock wait included) may run."""
_CONNECT_SECONDS = 10
"""How long a connection attempt to PostgreSQL may take."""


def epoch(value: datetime.datetime | None) -> float | None:
    """``value`` as float seconds since the epoch (``None`` stays ``None``)."""
    return None if value is None else value.timestamp()


def moment(value: float | None) -> datetime.datetime | None:
    """Epoch seconds as an aware UTC datetime (``None`` stays ``None``)."""
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def never() -> datetime.datetime:
    """The epoch: stands in for a time a row cannot lack."""
    return datetime.datetime.fromtimestamp(0, tz=datetime.UTC)


def _with_idle_timeout(options: str | tuple[str, ...] | None) -> str:
    """libpq ``options`` of the URL (a ``search_path``, say) plus the service's bounds:
    the idle-in-transaction timeout and a statement timeout (no wait is unbounded)."""
    given = [options] if isinstance(options, str) else list(options or ())
    return " ".join(
        [
            *given,
            f"-c idle_in_transaction_session_timeout={_IDLE_MS}",
            f"-c statement_timeout={_STATEMENT_MS}",
        ]
    )


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE write
    transactions (so concurrent writers queue instead of failing to upgrade a lock), while
    ``_read`` transactions BEGIN deferred (a WAL snapshot that no writer blocks)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            # A process stopped in the middle of a transaction (SIGSTOP, a debugger) must
            # not hold its row locks for ever: PostgreSQL ends such a session.
            connect_args={
                "options": _with_idle_timeout(parsed.query.get("options")),
                "connect_timeout": _CONNECT_SECONDS,
            },
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=10
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Readers take a WAL snapshot (deferred BEGIN: they neither wait for nor block a
        # writer); writers take the write lock up front.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        # Straight to the driver: a full SQLAlchemy execution per BEGIN costs as much as
        # the statement that follows it.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class SqlConnections:
    """An engine, migrated, with ``_read`` and ``_write`` transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        # SQLite has one writer at a time: queue this process's writers on a lock, which
        # hands over at once, instead of in SQLite's busy handler, which sleeps 1-100 ms.
        self._write_lock: AbstractContextManager[Any] = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as connection:
            connection.execution_options(**{_READ_ONLY: True})
            yield connection
            connection.rollback()

    def close(self) -> None:
        self.engine.dispose()
