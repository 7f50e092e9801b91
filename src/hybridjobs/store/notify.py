"""PostgreSQL LISTEN/NOTIFY: a scheduler in another process wakes as soon as a job is
created or a cancel is requested, instead of at its next poll.

The store sends ``NOTIFY hybridjobs_jobs`` (:data:`CHANNEL`) in the same transaction as
the insert or the cancel (:func:`notify_in`), so a listener can only hear of committed
changes. :class:`JobNotificationListener` holds one connection that ``LISTEN``s and calls
``on_notify`` for every notification, and once after every (re)connect, since
notifications sent while it was disconnected are lost. Polling stays the fallback: with
SQLite, or while PostgreSQL is unreachable, the scheduler still finds work on its poll.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "hybridjobs_jobs"
"""The notification channel (payload: ``created``, ``cancel`` or ``task``, then a space and
the ARN)."""

_RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
_CONNECT_SECONDS = 10
"""How long connecting the LISTEN session may take."""
_QUIET_SECONDS = 30.0
"""After this long without a notification the session is checked (``SELECT 1``)."""


def notify_in(connection: sa.Connection, what: str, job_arn: str) -> None:
    """Queue a notification in ``connection``'s transaction (PostgreSQL only; else nothing).

    PostgreSQL delivers it when (and only if) the transaction commits.
    """
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        sa.text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL, "payload": f"{what} {job_arn}"[:7999]},
    )


def libpq_url(sqlalchemy_url: str) -> str:
    """The libpq URI for a ``postgresql[+driver]://`` SQLAlchemy URL (query kept)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class JobNotificationListener:
    """A daemon thread that LISTENs on :data:`CHANNEL` and calls ``on_notify``.

    ``start`` returns at once; ``wait_listening`` blocks until the LISTEN is in place
    (for tests); ``stop`` returns once the thread and its connection are gone.
    ``on_notify`` runs on the listener thread and must be quick (``Scheduler.wake``).
    """

    def __init__(self, url: str, on_notify: Callable[[], None]) -> None:
        self.conninfo = libpq_url(url)
        self.on_notify = on_notify
        self.received = 0
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is connected and listening within ``timeout`` seconds."""
        return self._listening.wait(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception as exc:
                self._listening.clear()
                delay = _RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("LISTEN %s failed (%s); retrying in %.1f s", CHANNEL, exc, delay)
                self._stop.wait(delay)

    def _listen(self) -> None:
        import psycopg

        connection: Any
        with psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=_CONNECT_SECONDS
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            self._wake()  # whatever happened while we were not listening
            socket_fd = connection.fileno()
            while not self._stop.is_set():
                readable, _, _ = select.select([socket_fd, self._wake_read], [], [], _QUIET_SECONDS)
                if self._wake_read in readable:
                    return
                if not readable:
                    # Quiet for a while: make sure the server is still there (a dead peer
                    # would leave the select waiting for ever); a failure reconnects.
                    connection.execute("SELECT 1")
                    continue
                heard = sum(1 for _ in connection.notifies(timeout=0.0))
                if heard:
                    self.received += heard
                    self._wake()
                elif connection.closed:
                    raise ConnectionError("the LISTEN connection closed")

    def _wake(self) -> None:
        try:
            self.on_notify()
        except Exception:
            log.exception("waking the scheduler after a notification failed")
