"""The SQL store (SQLAlchemy Core) over SQLite or PostgreSQL: one class composed of the
parts that each keep one kind of record. Connections live in :mod:`sqlengine`, jobs in
:mod:`sqljobs`, their events and tags in :mod:`sqlevents`, job output in :mod:`sqloutput`."""

from __future__ import annotations

from hybridjobs.store.sqlaccounts import SqlAccounts
from hybridjobs.store.sqljobs import SqlJobRecords
from hybridjobs.store.sqlleases import SqlLeases
from hybridjobs.store.sqlobjectmeta import SqlObjectMeta
from hybridjobs.store.sqloutput import SqlOutputRecords
from hybridjobs.store.sqltasks import SqlTaskRecords
from hybridjobs.store.sqlusage import SqlUsageRecords


class SqlJobStore(
    SqlJobRecords,
    SqlOutputRecords,
    SqlTaskRecords,
    SqlLeases,
    SqlObjectMeta,
    SqlUsageRecords,
    SqlAccounts,
):
    """A :class:`~hybridjobs.store.base.JobStore`,
    :class:`~hybridjobs.store.taskbase.TaskStore` and
    :class:`~hybridjobs.store.objectmetabase.ObjectMetaStore` over SQLite or PostgreSQL."""
