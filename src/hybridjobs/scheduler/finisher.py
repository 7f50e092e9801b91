"""The end of one job: stop what runs, upload the results, record the terminal status.

:class:`JobFinisher` works for a :class:`~hybridjobs.scheduler.supervisor.JobSupervisor`
once its watch is over (or when the job ends before its instances start):

* A completed job's results directories are packed into a scratch file in the job's
  directory, away from the job's bucket, and published as ``<s3Path>/output/model.tar.gz``
  only while the job is still RUNNING. A cancel that arrives while the archive is packed
  abandons it; one that arrives while it is uploaded wins the race for the terminal
  status, and the object is deleted again before the job reads CANCELLED. So, as on AWS,
  a cancelled job leaves no results.
* ``endedAt`` is when the job ended, after the upload, and ``billableDuration`` is that
  time since ``startedAt`` for each instance. When every instance had exited while the
  service was not running (re-attached after a restart), the instances' recorded exit
  times (their exit files) stand for the time the service was down: the job ends the
  time it took to finish after the last of them.
"""

from __future__ import annotations

import datetime
import enum
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hybridjobs import jobdata
from hybridjobs.jobs.model import MAX_FAILURE_REASON, JobEvent, JobEventType, JobStatus, utcnow
from hybridjobs.observability.accesslog import log_job
from hybridjobs.store.base import ClaimLost

if TYPE_CHECKING:
    from hybridjobs.scheduler.supervisor import JobSupervisor

log = logging.getLogger(__name__)

# How often a finisher packing the results looks for a cancel made elsewhere (another
# scheduler's API); a cancel through this service's API wakes it at once.
_CANCEL_CHECK_SECONDS = 0.5


class Outcome(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    SERVICE_STOPPED = "service stopped"
    STOPPED = "stopped"
    """A stop check of the scheduler context stopped the job (``supervisor.stop_reason``)."""


class JobFinisher:
    """Ends the job of ``supervisor`` (see the module docstring)."""

    def __init__(self, supervisor: JobSupervisor) -> None:
        self.supervisor = supervisor
        self.context = supervisor.context
        self.job = supervisor.job
        # When the service saw the job's instances end (or the job end without them).
        self.noticed = time.time()

    def finish(self, outcome: Outcome) -> None:
        sup = self.supervisor
        if not sup.holds_claim():
            raise ClaimLost(self.job.job_arn, sup.claim)
        if outcome is not Outcome.COMPLETED:
            sup.stop_instances()
        sup._ship_logs(final=True)
        if sup._checkpoint_thread is not None:
            sup._checkpoint_thread.join()
        sup._sync_checkpoints()
        if outcome is Outcome.COMPLETED:
            sup._event(
                JobEventType.UPLOADING_RESULTS,
                "Packing the results directories into model.tar.gz and uploading it.",
            )
            published = self._upload_results()
            if published is None:
                self.end(
                    JobStatus.CANCELLED,
                    None,
                    detail="Job cancelled while its results were uploading; no results were "
                    "uploaded.",
                )
                return
            self.end(
                JobStatus.COMPLETED,
                None,
                detail=f"Results uploaded to s3://{published[0]}/{published[1]}.",
                published=published,
            )
        elif outcome is Outcome.FAILED:
            text, code = sup.failure or ("the instance failed", 1)
            host = sup.failed_host() or "an instance"
            self.end(
                JobStatus.FAILED,
                f"AlgorithmError: {text}, exit code: {code}",
                detail=f"{host} failed; the other instances were stopped.",
            )
        elif outcome is Outcome.TIMED_OUT:
            runtime = self.job.max_runtime_seconds
            sup._event(
                JobEventType.MAX_RUNTIME_EXCEEDED,
                f"The job ran longer than its maximum runtime of {runtime} seconds and was stopped.",
            )
            self.end(
                JobStatus.FAILED,
                f"MaxRuntimeExceeded: the job exceeded its maximum runtime of {runtime} seconds "
                "(stoppingCondition.maxRuntimeInSeconds) and was stopped.",
            )
        elif outcome is Outcome.CANCELLED:
            self.end(JobStatus.CANCELLED, None, detail="Job cancelled; its instances were stopped.")
        elif outcome is Outcome.STOPPED:
            self.end(
                JobStatus.FAILED,
                sup.stop_reason or "Stopped: the service stopped the job.",
                detail="The job was stopped; its instances were stopped.",
            )
        else:
            self.end(
                JobStatus.FAILED,
                "ServiceStopped: the hybridjobs service was stopped while the job was running; "
                "its instances were stopped.",
            )

    # -- results --------------------------------------------------------------------------

    def _cancel_requested(self) -> bool:
        current = self.context.store.get_job(self.job.job_arn)
        return current is None or current.status is not JobStatus.RUNNING

    def _upload_results(self) -> tuple[str, str] | None:
        """Pack and publish ``model.tar.gz``; its bucket and key, or ``None`` when a cancel
        came first (then nothing was published)."""
        sup = self.supervisor
        bucket, key = jobdata.results_key(self.job.definition["outputDataConfig"]["s3Path"])
        scratch_parent = self.context.settings.jobs_dir / self.job.job_id
        scratch_parent.mkdir(parents=True, exist_ok=True)
        packer = _Packer(sup.results_dirs(scratch_parent), scratch_parent, sup.wake)
        packer.start()
        try:
            while not packer.finished.is_set():
                sup.wake.wait(_CANCEL_CHECK_SECONDS)
                sup.wake.clear()
                if self._cancel_requested():
                    return None
            if packer.error is not None:
                raise packer.error
            if self._cancel_requested():
                return None
            if not sup.holds_claim():
                raise ClaimLost(self.job.job_arn, sup.claim)
            self.context.objects.put_file(bucket, key, packer.archive)
        finally:
            packer.discard()
        if packer.report is not None and packer.report.skipped:
            self._note_skipped(packer.report.skipped)
        return bucket, key

    def _note_skipped(self, skipped: Sequence[jobdata.Skipped]) -> None:
        """Say in each instance's log what its results directory lost in model.tar.gz."""
        for index, host in enumerate(self.supervisor._hosts()):
            self.supervisor.say_in_log(host, [str(s) for s in skipped if s.instance == index])

    def _unpublish(self, published: tuple[str, str]) -> None:
        bucket, key = published
        try:
            self.context.objects.delete(bucket, key)
        except Exception:
            log.exception("job %s: cannot delete s3://%s/%s", self.job.job_arn, bucket, key)

    # -- times ----------------------------------------------------------------------------

    def ended_at(self, now: datetime.datetime) -> datetime.datetime:
        """When the job ended: ``now``, less the time between the last instance's exit and
        the service noticing it when that exit happened while the service was down."""
        exits = self.supervisor.recorded_exits()
        took_over = self.supervisor.took_over
        if not exits or any(e is None or e >= took_over for e in exits):
            return now  # an instance ended under the watch of this service (or none ran)
        last = max(e for e in exits if e is not None)
        unwatched = max(0.0, self.noticed - last)
        return now - datetime.timedelta(seconds=unwatched)

    # -- the terminal status --------------------------------------------------------------

    def end(
        self,
        status: JobStatus,
        reason: str | None,
        detail: str = "",
        published: tuple[str, str] | None = None,
    ) -> None:
        """Move the job to ``status``; ``published`` is the results object a COMPLETED
        job uploaded, deleted again when a cancel got in first."""
        now = utcnow()
        ended = self.ended_at(now)
        started = min(self.job.started_at or ended, ended)
        billable = int((ended - started).total_seconds() * 1000) * self.job.instance_count
        updates: dict[str, Any] = {"ended_at": ended, "billable_duration_ms": billable}
        message = detail or (reason or "")
        if reason:
            updates["failure_reason"] = reason[:MAX_FAILURE_REASON]
            message = reason if not detail else f"{reason} {detail}"
        event_type = {
            JobStatus.COMPLETED: JobEventType.COMPLETED,
            JobStatus.FAILED: JobEventType.FAILED,
            JobStatus.CANCELLED: JobEventType.CANCELLED,
        }[status]
        event = JobEvent(event_type, now, message[:2500])
        store = self.context.store
        expected = {
            JobStatus.COMPLETED: [JobStatus.RUNNING],
            JobStatus.FAILED: [JobStatus.RUNNING, JobStatus.CANCELLING],
            JobStatus.CANCELLED: [JobStatus.CANCELLING],
        }[status]
        claim = self.supervisor.claim
        moved = _retried(
            lambda: store.transition(
                self.job.job_arn,
                status,
                expected=expected,
                event=event,
                updates=updates,
                claim=claim,
            )
        )
        if moved is None and status is JobStatus.COMPLETED:
            # A cancel arrived while the results were uploading: it wins, and the job
            # keeps no results (the object goes before the job reads CANCELLED).
            if published is not None:
                self._unpublish(published)
            event = JobEvent(
                JobEventType.CANCELLED,
                now,
                "Job cancelled while its results were uploading; no results were kept.",
            )
            moved = _retried(
                lambda: store.transition(
                    self.job.job_arn,
                    JobStatus.CANCELLED,
                    expected=[JobStatus.CANCELLING],
                    event=event,
                    updates=updates,
                    claim=claim,
                )
            )
        if moved is not None:
            log_job(moved.job_arn, moved.status.value, reason)
            for listener in self.context.job_ended:
                try:
                    listener(moved.job_arn, moved.status)
                except Exception:
                    log.exception("job %s: an end-of-job listener failed", moved.job_arn)


_T = TypeVar("_T")
FINAL_WRITE_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
"""Pauses between attempts at a job's final write (the database may be briefly away);
after the last, the job is left to the scheduler's orphan check, which re-attaches."""


class FinalWriteFailed(Exception):
    """A job's terminal status could not be written, even after retries; the job stays as
    it is for the scheduler's orphan check to finish it later."""


def _retried(write: Callable[[], _T]) -> _T:
    """``write()``, tried again after each of ``FINAL_WRITE_DELAYS`` when it fails (a lost
    claim is not a failure to retry); raises :class:`FinalWriteFailed` after the last."""
    for delay in (*FINAL_WRITE_DELAYS, None):
        try:
            return write()
        except ClaimLost:
            raise
        except Exception as exc:
            if delay is None:
                raise FinalWriteFailed(str(exc)) from exc
            log.warning("a job's final write failed; trying again in %.1f s", delay, exc_info=True)
            time.sleep(delay)
    raise AssertionError("unreachable")


class _Packer(threading.Thread):
    """Packs ``model.tar.gz`` into a scratch directory of its own, so that a cancel need
    not wait for it: :meth:`discard` removes the directory now or when packing ends."""

    def __init__(self, model_dirs: list[Path], scratch_parent: Path, wake: threading.Event):
        super().__init__(name="results-packer", daemon=True)
        self.model_dirs = model_dirs
        self.scratch = Path(tempfile.mkdtemp(prefix=".results-", dir=scratch_parent))
        self.archive = self.scratch / "model.tar.gz"
        self.wake = wake
        self.finished = threading.Event()
        self.report: jobdata.PackReport | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._discarded = False

    def run(self) -> None:
        try:
            self.report = jobdata.pack_archive(self.model_dirs, self.archive)
        except BaseException as exc:
            self.error = exc
        finally:
            with self._lock:
                self.finished.set()
                remove = self._discarded
            if remove:
                shutil.rmtree(self.scratch, ignore_errors=True)
            self.wake.set()

    def discard(self) -> None:
        with self._lock:
            self._discarded = True
            remove = self.finished.is_set()
        if remove:
            shutil.rmtree(self.scratch, ignore_errors=True)
