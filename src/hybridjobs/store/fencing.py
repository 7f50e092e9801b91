"""Fencing a write transaction by a scheduler's claim on a job."""

from __future__ import annotations

import sqlalchemy as sa

from hybridjobs.store import schema
from hybridjobs.store.base import Claim, ClaimLost


def hold_claim(connection: sa.Connection, job_arn: str, claim: Claim) -> None:
    """Fence the rest of the caller's write transaction by ``claim``: raise
    :class:`ClaimLost` unless it is the job's current claim.

    On PostgreSQL the job's row stays share-locked to the commit, so a takeover (an
    UPDATE of that row) waits for what this transaction writes, and a transaction that
    starts after the takeover sees the new claim. SQLite's single write lock, taken at
    BEGIN IMMEDIATE, already orders the two.
    """
    jobs = schema.jobs
    query = sa.select(jobs.c.owner, jobs.c.claim_epoch).where(jobs.c.job_arn == job_arn)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = connection.execute(query).first()
    if row is None or (row.owner, row.claim_epoch) != (claim.owner, claim.epoch):
        raise ClaimLost(job_arn, claim)
