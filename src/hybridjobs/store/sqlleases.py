"""The scheduler lease, in SQL: which scheduler process is the active one."""

from __future__ import annotations

import sqlalchemy as sa

from hybridjobs.store import schema
from hybridjobs.store.base import Lease
from hybridjobs.store.sqlengine import SqlConnections


class SqlLeases(SqlConnections):
    """The lease part of :class:`~hybridjobs.store.sql.SqlJobStore`."""

    def acquire_lease(
        self, name: str, holder: str, now: float, ttl: float, replacing: str | None = None
    ) -> Lease | None:
        leases = schema.scheduler_leases
        with self._write() as connection:
            query = sa.select(leases).where(leases.c.name == name)
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()
            row = connection.execute(query).first()
            if row is None:
                epoch = 1
                inserted = connection.execute(
                    _insert_if_absent(connection, name, holder, epoch, now + ttl)
                ).first()
                if inserted is None:
                    return None  # another process created it first
            elif row.holder in (holder, replacing) or row.expires_at < now:
                epoch = row.epoch if row.holder == holder else row.epoch + 1
                connection.execute(
                    leases.update()
                    .where(leases.c.name == name)
                    .values(holder=holder, epoch=epoch, expires_at=now + ttl)
                )
            else:
                return None
        return Lease(name, holder, epoch, now + ttl)

    def release_lease(self, name: str, holder: str) -> None:
        leases = schema.scheduler_leases
        with self._write() as connection:
            connection.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=0.0)
            )

    def lease_holder(self, name: str) -> Lease | None:
        leases = schema.scheduler_leases
        with self._read() as connection:
            row = connection.execute(sa.select(leases).where(leases.c.name == name)).first()
        return None if row is None else Lease(row.name, row.holder, row.epoch, row.expires_at)


def _insert_if_absent(
    connection: sa.Connection, name: str, holder: str, epoch: int, expires_at: float
) -> sa.Insert:
    """An INSERT that does nothing when the row exists (a concurrent first holder) and
    returns the row's name when it inserted it."""
    values = {"name": name, "holder": holder, "epoch": epoch, "expires_at": expires_at}
    table = schema.scheduler_leases
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing().returning(table.c.name)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing().returning(table.c.name)
