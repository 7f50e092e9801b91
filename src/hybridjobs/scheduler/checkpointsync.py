"""Checkpoint sync while a job runs: the files in each instance's checkpoint directory
reach ``checkpointConfig.s3Uri`` every few seconds, on a thread of their own.

:class:`CheckpointSync` is a base class of
:class:`~hybridjobs.scheduler.supervisor.JobSupervisor` (the cluster supervisor overrides
``_sync_checkpoints``); the attributes below are the supervisor's, set by its ``__init__``.
"""

from __future__ import annotations

import logging
import threading

from hybridjobs import jobdata
from hybridjobs.jobs.model import Job, utcnow
from hybridjobs.runners import contract
from hybridjobs.runners.local import InstanceHandle
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.store.base import Claim, ClaimLost, LogEvent

log = logging.getLogger("hybridjobs.scheduler.supervisor")


class CheckpointSync:
    """The supervisor's checkpoint sync and its ``hybridjobs:`` log lines."""

    name: str  # the supervisor thread's
    context: SchedulerContext
    job: Job
    claim: Claim
    handles: list[InstanceHandle]
    paths: list[contract.InstancePaths]
    _checkpoint_thread: threading.Thread | None
    _checkpoint_errors: set[str]

    def _hosts(self) -> list[str]:
        raise NotImplementedError

    def holds_claim(self) -> bool:
        raise NotImplementedError

    def _checkpoint_uri(self) -> str | None:
        uri = (self.job.definition.get("checkpointConfig") or {}).get("s3Uri")
        return str(uri) if uri else None

    def _sync_checkpoints(self) -> None:
        """Upload new or changed checkpoint files of every instance (algo-1 wins). A file
        that cannot be uploaded never fails the job: each new problem becomes a
        ``hybridjobs:`` line in algo-1's log and the other files still go."""
        uri = self._checkpoint_uri()
        if uri and self.handles and self.holds_claim():
            errors: list[str] = []
            jobdata.save_checkpoints(
                self.context.objects, uri, [p.checkpoint_dir for p in self.paths], errors
            )
            new = [e for e in dict.fromkeys(errors) if e not in self._checkpoint_errors]
            self._checkpoint_errors.update(new)
            self.say_in_log(self._hosts()[0], new)

    def say_in_log(self, stream: str, texts: list[str]) -> None:
        """Write ``texts`` into the job's log stream ``stream`` as ``hybridjobs:`` lines
        (what the service did with the job's files, that the job should know about)."""
        if not texts:
            return
        now = utcnow()
        lines = [LogEvent(stream, now, f"hybridjobs: {text}") for text in texts]
        try:
            self.context.store.add_log_events(self.job.job_arn, lines, claim=self.claim)
        except ClaimLost:
            raise
        except Exception:
            log.exception("job %s: cannot write to the log of %s", self.job.job_arn, stream)

    def _sync_checkpoints_in_background(self) -> None:
        """While the job runs, checkpoints reach ``checkpointConfig.s3Uri`` every few
        seconds (as on SageMaker), without holding up the watch loop."""
        if self._checkpoint_uri() is None:
            return
        if self._checkpoint_thread is not None and self._checkpoint_thread.is_alive():
            return
        self._checkpoint_thread = threading.Thread(
            target=self._sync_checkpoints_logged, name=f"{self.name}-checkpoints", daemon=True
        )
        self._checkpoint_thread.start()

    def _sync_checkpoints_logged(self) -> None:
        try:
            self._sync_checkpoints()
        except ClaimLost:
            pass  # the watch loop finds out at its next write, and leaves
        except Exception:
            log.warning("job %s: checkpoint sync failed; retrying", self.job.job_arn, exc_info=True)
