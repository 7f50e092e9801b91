"""Retention: what a long-running service removes so its disk stays bounded.

:meth:`Sweeper.sweep` removes, for jobs that ended (COMPLETED, FAILED, CANCELLED) longer
ago than the configured ages:

* the job's local directory under ``DATA_DIR/jobs`` (instance directories, raw logs,
  scratch space; whatever the job wrote, however large) after ``retention_job_files_days``;
* its log lines in the database (GetLogEvents, ``hybridjobs logs``) after
  ``retention_logs_days``; the job itself, its events, metrics and results stay;

the parts of multipart uploads nobody completed or aborted within
``retention_uploads_days`` (S3's ``AbortIncompleteMultipartUpload`` rule), and the entries
of the requirements cache (:mod:`hybridjobs.reqcache`) no job used for
``retention_requirements_days`` -- never one a running instance holds. An age of 0
keeps that kind of data forever. A dry run reports the same without removing anything.
On SQLite, a sweep that left much of the database file free (:data:`VACUUM_FREE_FRACTION`
of it, at least :data:`VACUUM_MIN_FREE_BYTES`) ends with ``VACUUM``, which gives it back.
:class:`SweeperThread` runs a sweep every ``retention_sweep_seconds`` next to the
scheduler; ``hybridjobs gc`` runs one on demand.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from hybridjobs import reqcache
from hybridjobs.jobs.model import TERMINAL_STATUSES
from hybridjobs.objects import STAGING_PREFIX, ObjectInfo, ObjectStore, ObjectStoreError
from hybridjobs.observability.metrics import RETENTION_REMOVED, RETENTION_REMOVED_BYTES
from hybridjobs.settings import Settings
from hybridjobs.store import schema

log = logging.getLogger(__name__)

DAY = 86_400.0
_BATCH = 200
"""Jobs looked up, or whose log lines are deleted, per statement."""
_TERMINAL = sorted(status.value for status in TERMINAL_STATUSES)
VACUUM_FREE_FRACTION = 0.25
"""VACUUM the SQLite database when at least this share of its pages is free..."""
VACUUM_MIN_FREE_BYTES = 1 << 20
"""...and the free pages add up to at least this many bytes."""


@dataclass
class SweepReport:
    """What one sweep removed (or, in a dry run, would remove)."""

    dry_run: bool
    job_dirs: list[str] = field(default_factory=list)
    job_dir_bytes: int = 0
    log_jobs: int = 0
    log_rows: int = 0
    uploads: list[str] = field(default_factory=list)
    upload_bytes: int = 0
    requirements: list[Path] = field(default_factory=list)
    requirement_bytes: int = 0
    vacuumed_bytes: int | None = None
    """Bytes the SQLite file shrank by a VACUUM after the sweep; None when none ran."""

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {len(self.job_dirs)} job directories ({self.job_dir_bytes} bytes), "
            f"{self.log_rows} log lines of {self.log_jobs} jobs, "
            f"{len(self.uploads)} abandoned multipart uploads ({self.upload_bytes} bytes), "
            f"and {len(self.requirements)} cached requirement installs "
            f"({self.requirement_bytes} bytes)"
            + ("" if self.vacuumed_bytes is None else f"; vacuumed ({self.vacuumed_bytes} bytes)")
        )


class Sweeper:
    """Applies ``settings``' retention ages to the service's data directory, database
    (``engine``) and object store. ``clock`` returns seconds since the epoch."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        objects: ObjectStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.objects = objects
        self.clock = clock

    def sweep(self, dry_run: bool = False) -> SweepReport:
        """One pass over everything; each kind of data is swept even if another fails."""
        report = SweepReport(dry_run)
        for step in (self._job_dirs, self._log_rows, self._uploads, self._requirements):
            try:
                step(report)
            except Exception:
                log.exception("retention: %s failed; the next sweep tries again", step.__name__)
        if not dry_run and self.engine.dialect.name == "sqlite":
            try:
                report.vacuumed_bytes = _vacuum_if_worth_it(self.engine)
            except Exception:
                log.exception("retention: VACUUM failed; the next sweep tries again")
        return report

    def _cutoff(self, days: float) -> float | None:
        return None if days <= 0 else self.clock() - days * DAY

    # -- job directories --------------------------------------------------------------

    def _job_dirs(self, report: SweepReport) -> None:
        cutoff = self._cutoff(self.settings.retention_job_files_days)
        jobs_dir = self.settings.jobs_dir
        if cutoff is None or not jobs_dir.is_dir():
            return
        dirs = {entry.name: entry for entry in jobs_dir.iterdir() if entry.is_dir()}
        for batch in _batches(sorted(dirs)):
            for job_id in self._ended_before(schema.jobs.c.job_id, batch, cutoff):
                path = dirs[job_id]
                report.job_dirs.append(job_id)
                report.job_dir_bytes += reqcache.size_of(path)
                if not report.dry_run:
                    shutil.rmtree(path, ignore_errors=True)

    def _ended_before(self, column: sa.Column[str], values: list[str], cutoff: float) -> list[str]:
        """Of ``values`` (of ``column``), those of jobs that ended before ``cutoff``."""
        jobs = schema.jobs
        query = sa.select(column).where(
            column.in_(values), jobs.c.status.in_(_TERMINAL), jobs.c.ended_at < cutoff
        )
        with self.engine.connect() as connection:
            return [str(value) for (value,) in connection.execute(query)]

    # -- log lines --------------------------------------------------------------------

    def _log_rows(self, report: SweepReport) -> None:
        cutoff = self._cutoff(self.settings.retention_logs_days)
        if cutoff is None:
            return
        jobs, lines = schema.jobs, schema.log_events
        with_lines = sa.select(lines.c.job_arn).distinct()
        old = sa.select(jobs.c.job_arn).where(
            jobs.c.status.in_(_TERMINAL),
            jobs.c.ended_at < cutoff,
            jobs.c.job_arn.in_(with_lines),
        )
        with self.engine.connect() as connection:
            arns = [str(arn) for (arn,) in connection.execute(old)]
        report.log_jobs += len(arns)
        for batch in _batches(arns):
            if report.dry_run:
                count = sa.select(sa.func.count()).where(lines.c.job_arn.in_(batch))
                with self.engine.connect() as connection:
                    report.log_rows += int(connection.execute(count).scalar_one())
                continue
            with self.engine.begin() as connection:
                deleted = connection.execute(sa.delete(lines).where(lines.c.job_arn.in_(batch)))
                report.log_rows += deleted.rowcount

    # -- abandoned multipart uploads --------------------------------------------------

    def _uploads(self, report: SweepReport) -> None:
        cutoff = self._cutoff(self.settings.retention_uploads_days)
        if cutoff is None:
            return
        for bucket in self.objects.list_buckets():
            try:
                staged = list(self.objects.list(bucket, STAGING_PREFIX))
            except ObjectStoreError:
                continue  # the bucket went meanwhile
            for upload, parts in _by_upload(staged):
                if max(part.last_modified for part in parts) >= cutoff:
                    continue  # a part arrived recently: the upload is alive
                report.uploads.append(f"s3://{bucket}/{STAGING_PREFIX}{upload}")
                report.upload_bytes += sum(part.size for part in parts)
                if not report.dry_run:
                    for part in parts:
                        self.objects.delete(bucket, part.key)

    # -- the requirements cache -------------------------------------------------------

    def _requirements(self, report: SweepReport) -> None:
        cutoff = self._cutoff(self.settings.retention_requirements_days)
        root = self.settings.data_dir / "cache" / "requirements"  # see scheduler.launchplan
        if cutoff is None or not root.is_dir():
            return
        for tag in sorted(root.iterdir()):
            if tag.is_dir():
                for entry, size in reqcache.sweep(tag, cutoff, report.dry_run):
                    report.requirements.append(entry)
                    report.requirement_bytes += size


def _vacuum_if_worth_it(engine: sa.Engine) -> int | None:
    """``VACUUM`` the SQLite database if enough of it is free (see the module's text);
    the bytes the file shrank by, or None when it was not worth it."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        page_size = int(driver.execute("PRAGMA page_size").fetchone()[0])
        pages = int(driver.execute("PRAGMA page_count").fetchone()[0])
        free = int(driver.execute("PRAGMA freelist_count").fetchone()[0])
        if free * page_size < VACUUM_MIN_FREE_BYTES or free < pages * VACUUM_FREE_FRACTION:
            return None
        log.info("retention: VACUUM (%d of %d pages free)", free, pages)
        driver.execute("VACUUM")
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = int(driver.execute("PRAGMA page_count").fetchone()[0])
    return (pages - after) * page_size


def _by_upload(staged: list[ObjectInfo]) -> Iterator[tuple[str, list[ObjectInfo]]]:
    """The staged objects grouped by upload id (the first path segment after the prefix)."""
    groups: dict[str, list[ObjectInfo]] = {}
    for info in staged:
        upload = info.key[len(STAGING_PREFIX) :].split("/", 1)[0]
        groups.setdefault(upload, []).append(info)
    yield from groups.items()


def _batches(values: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(report: SweepReport) -> None:
    """Add what a sweep removed to the retention counters of ``/metrics``."""
    for kind, items, size in (
        ("job_dirs", len(report.job_dirs), report.job_dir_bytes),
        ("log_lines", report.log_rows, 0),
        ("uploads", len(report.uploads), report.upload_bytes),
        ("requirements", len(report.requirements), report.requirement_bytes),
    ):
        RETENTION_REMOVED.labels(kind).inc(items)
        RETENTION_REMOVED_BYTES.labels(kind).inc(size)


class SweeperThread:
    """Runs ``sweeper`` every ``interval`` seconds (the first a minute after start) until
    stopped; a scheduler companion."""

    def __init__(self, sweeper: Sweeper, interval: float, first_after: float = 60.0) -> None:
        self.sweeper = sweeper
        self.interval = interval
        self.first_after = min(first_after, interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        wait = self.first_after
        while not self._stop.wait(wait):
            report = self.sweeper.sweep()
            _count(report)
            if report.job_dirs or report.log_rows or report.uploads or report.requirements:
                log.info("retention: %s", report.summary())
            wait = self.interval
