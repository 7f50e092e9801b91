"""The scheduler loop: reconcile, admit by capacity, claim, supervise, heartbeat.

The database is the only channel to the API: the API writes QUEUED jobs and cancel
requests; the scheduler claims jobs with a compare-and-set (QUEUED -> RUNNING plus owner)
made by ``JobStore.claim_if_fits``, which weighs the capacity against every job running in
the database under a lock all schedulers share: several schedulers may share a database
and together never admit more than the capacity. ``wake()`` lets an in-process API skip
the poll interval; :meth:`Scheduler.run_once` makes one deterministic pass for tests.
"""

from __future__ import annotations

import datetime
import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Protocol

from hybridjobs.jobs.admission import Capacity, capacity_in_use, job_needs, why_never_fits
from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus, utcnow
from hybridjobs.observability.accesslog import log_job
from hybridjobs.runners.cluster import ClusterRunner, placement_strategy
from hybridjobs.scheduler.clustersupervisor import ClusterJobSupervisor
from hybridjobs.scheduler.context import SchedulerContext, owner_is_dead
from hybridjobs.scheduler.supervisor import JobSupervisor
from hybridjobs.store.base import Claim, ClaimLost, Lease

log = logging.getLogger(__name__)

_HEARTBEAT_SECONDS = 5.0
"""How often the loop refreshes its jobs' heartbeats (at most; and 4 times per timeout)."""
_RECONCILE_SECONDS = 5.0
"""How often the loop looks for jobs of dead owners (at most; and twice per heartbeat
timeout): every pass would parse every running job each time a job is created or ends."""
SCHEDULER_LEASE = "scheduler"
"""The lease whose holder is the one active scheduler of a database."""
_ADMIT_BATCH = 32
"""Queued jobs read per admission pass; a pass that starts or refuses all of them asks for
another at once."""


class Companion(Protocol):
    """A helper that lives as long as the scheduler (warm pool, LISTEN thread)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Scheduler:
    """Runs queued jobs on this service's capacity."""

    def __init__(
        self, context: SchedulerContext, capacity: Capacity, cluster: ClusterRunner | None = None
    ) -> None:
        self.context = context
        self.capacity = capacity
        self.cluster = cluster
        """Where instances run when not here (``None``: local processes)."""
        self._reserved: dict[str, Job] = {}
        """Jobs with a cluster reservation, not yet claimed (the head of the queue)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._supervisors: dict[str, JobSupervisor] = {}
        self._thread: threading.Thread | None = None
        self._reconciled = False
        self._last_heartbeat = 0.0
        self._last_reconcile = float("-inf")
        self._lease: Lease | None = None
        """The scheduler lease while this process is the active scheduler."""
        self._lease_checked = float("-inf")
        self._disk_warned = float("-inf")
        self.listeners: list[Callable[[], None]] = []
        self.companions: list[Companion] = []
        """Started (in order) by ``start``; stopped (in reverse) once ``stop`` has stopped
        every job."""

    # -- control --------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask for a pass now (a job was queued or cancelled). Thread-safe, cheap."""
        self._wake.set()
        with self._lock:
            supervisors = list(self._supervisors.values())
        for supervisor in supervisors:
            supervisor.wake.set()

    def instance_exited(self, pid: int) -> None:
        """An instance process ended (its parent, a warm-pool zygote, said so): wake the
        supervisor that started it, so it need not wait for its next poll."""
        with self._lock:
            supervisors = list(self._supervisors.values())
        for supervisor in supervisors:
            if any(handle.pid == pid for handle in supervisor.handles):
                supervisor.wake.set()

    def start(self) -> None:
        """Start the companions, then run the loop in a background thread."""
        for companion in self.companions:
            companion.start()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop, then every job supervisor: with ``context.detach_on_stop`` each
        stores its job's state and leaves the instances running (the next start
        re-attaches); otherwise the instances are stopped and the jobs end FAILED with a
        reason saying the service stopped. Then the companions stop. ``timeout`` bounds the
        whole (a supervisor still busy then is left behind, logged)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        self.context.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(left())
        with self._lock:
            supervisors = list(self._supervisors.values())
        for supervisor in supervisors:
            supervisor.wake.set()
        for supervisor in supervisors:
            supervisor.join(left())
            if supervisor.is_alive():
                log.warning("job %s: its supervisor did not stop in time", supervisor.job.job_arn)
        for companion in reversed(self.companions):
            companion.stop()
        if self._lease is not None:  # a standby need not wait for the lease to expire
            try:
                self.context.store.release_lease(SCHEDULER_LEASE, self.context.owner)
            except Exception:
                log.exception("cannot release the scheduler lease")
            self._lease = None

    def running_jobs(self) -> list[str]:
        with self._lock:
            return list(self._supervisors)

    def running_instances(self) -> int:
        """Instance processes started (or re-attached) by this scheduler's supervisors."""
        with self._lock:
            return sum(len(supervisor.handles) for supervisor in self._supervisors.values())

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.context.stopping.is_set():
            every = min(_RECONCILE_SECONDS, self.context.settings.heartbeat_timeout_seconds / 2)
            due = time.monotonic() - self._last_reconcile >= every
            try:
                self.run_once(reconcile=due)
            except Exception:
                log.exception("scheduler pass failed; retrying")
            self._wake.wait(self.context.settings.scheduler_poll_seconds)
            self._wake.clear()

    def run_once(self, reconcile: bool = True) -> list[str]:
        """One pass: as the active scheduler (holding the lease), reconcile (take over jobs
        of dead owners; the loop asks for it every few seconds) and admit what fits; in any
        case heartbeat the jobs this process runs. Returns the ARNs of the jobs it started."""
        started: list[str] = []
        became_active = self._hold_lease()
        if self._lease is not None:
            if reconcile or became_active:
                self._last_reconcile = time.monotonic()
                self._reconcile(everyone_else_is_gone=became_active)
            started = self._admit()
        self._heartbeat()
        return started

    @property
    def active(self) -> bool:
        """Whether this process holds the scheduler lease (the others stand by)."""
        return self._lease is not None

    def _hold_lease(self) -> bool:
        """Take or renew the scheduler lease (four times per heartbeat timeout at most);
        returns whether this process has just become the active scheduler."""
        timeout = self.context.settings.heartbeat_timeout_seconds
        now = time.time()
        if self._lease is not None and now - self._lease_checked < timeout / 4:
            return False
        self._lease_checked = now
        was_active = self._lease is not None
        store = self.context.store
        self._lease = store.acquire_lease(SCHEDULER_LEASE, self.context.owner, now, timeout)
        if self._lease is None:
            held = store.lease_holder(SCHEDULER_LEASE)
            if held is not None and owner_is_dead(held.holder):  # a restart on this host
                self._lease = store.acquire_lease(
                    SCHEDULER_LEASE, self.context.owner, now, timeout, replacing=held.holder
                )
        if self._lease is not None and not was_active:
            log.info("this scheduler is now the active one (lease epoch %d)", self._lease.epoch)
            return True
        if self._lease is None and was_active:
            log.warning("another scheduler holds the scheduler lease now; standing by")
        return False

    # -- admission ------------------------------------------------------------------------

    def _in_use(self) -> Capacity:
        """What this process's jobs use: a lower bound of the service's use (other
        schedulers' jobs add to it), so only a fast pre-check."""
        with self._lock:
            jobs = [s.job for s in self._supervisors.values()]
        return capacity_in_use(jobs, self.context.instance_types)

    def _disk_allows(self) -> bool:
        """Whether the data directory has the free space a job needs to start
        (``min_free_disk_gib``; local instances only). Jobs wait in the queue otherwise,
        said in the log at most once a minute."""
        settings = self.context.settings
        if self.cluster is not None or settings.min_free_disk_gib <= 0:
            return True
        free = shutil.disk_usage(settings.data_dir).free
        if free >= settings.min_free_disk_gib * 2**30:
            return True
        if time.monotonic() - self._disk_warned >= 60:
            self._disk_warned = time.monotonic()
            log.warning(
                "queued jobs wait: the data directory %s has %.2f GiB free, under the %g GiB "
                "minimum (min_free_disk_gib); free space or run `hybridjobs gc`",
                settings.data_dir,
                free / 2**30,
                settings.min_free_disk_gib,
            )
        return False

    def _admit(self) -> list[str]:
        if self.context.stopping.is_set() or not self._disk_allows():
            return []
        free = self.capacity.minus(self._in_use())
        started: list[str] = []
        queued = self.context.store.list_jobs([JobStatus.QUEUED], limit=_ADMIT_BATCH)
        for job in queued:
            resources = self.context.instance_types.get(job.instance_type)
            if resources is None:
                self._refuse(
                    job, f"instance type {job.instance_type} is not in this service's table"
                )
                continue
            need = job_needs(resources, job.instance_count)
            never = why_never_fits(need, self.capacity)
            strategy = self._strategy(job)
            if never is None and self.cluster is not None:
                never = self.cluster.never_fits(job, resources, strategy)
            if never is not None:
                self._refuse(job, f"the job needs {never}")
                continue
            if not free.covers(need):
                break  # first come, first served: later jobs wait behind this one
            if self.cluster is not None:
                self._reserved[job.job_arn] = job
                if not self.cluster.reserve(job, resources, strategy):
                    break  # reserved whole or not at all: the queue waits for this job
            claimed, full = self._claim(job, need)
            if claimed is None and self.cluster is not None:
                self._release(job)
            if full:
                break  # other schedulers' jobs hold the capacity: this one waits first
            if claimed is None:
                continue  # another scheduler took it, or it was cancelled
            free = free.minus(need)
            self._reserved.pop(claimed.job_arn, None)
            self._supervise(claimed, attach=False)
            started.append(claimed.job_arn)
        else:
            if len(queued) == _ADMIT_BATCH:
                self._wake.set()  # the whole batch started or was refused: read the next
        self._release_abandoned({job.job_arn for job in queued})
        return started

    def _strategy(self, job: Job) -> str:
        if self.cluster is None:
            return "SPREAD"
        return placement_strategy(job, self.context.store.get_tags(job.job_arn))

    def _release(self, job: Job) -> None:
        self._reserved.pop(job.job_arn, None)
        if self.cluster is not None:
            try:
                self.cluster.release(job)
            except Exception:
                log.exception("job %s: cannot release its cluster reservation", job.job_arn)

    def _release_abandoned(self, queued: set[str]) -> None:
        """Give back reservations of jobs that left the queue without starting here
        (cancelled while they waited for the cluster)."""
        for arn, job in list(self._reserved.items()):
            if arn not in queued:
                self._release(job)

    def _claim(self, job: Job, need: Capacity) -> tuple[Job | None, bool]:
        """Claim ``job`` if ``need`` fits beside every job running in the database (all
        schedulers'). Returns the claimed job (``None``: not claimed) and whether that was
        for want of capacity."""
        full = False

        def fits(running: list[Job]) -> bool:
            nonlocal full
            in_use = capacity_in_use(running, self.context.instance_types)
            full = not self.capacity.minus(in_use).covers(need)
            return not full

        now = utcnow()
        claimed = self.context.store.claim_if_fits(
            job.job_arn,
            fits,
            event=JobEvent(
                JobEventType.STARTING_INSTANCE,
                now,
                f"Starting {job.instance_count} x {job.instance_type} {self._where()} "
                f"({', '.join(f'algo-{i}' for i in range(1, job.instance_count + 1))}).",
            ),
            updates={"owner": self.context.owner, "heartbeat_at": now, "started_at": now},
        )
        return claimed, full

    def _where(self) -> str:
        return "as local processes" if self.cluster is None else "on the Ray cluster"

    def _refuse(self, job: Job, why: str) -> None:
        now = utcnow()
        reason = f"ServiceQuotaExceeded: {why}, so it can never start on this service."
        self.context.store.transition(
            job.job_arn,
            JobStatus.FAILED,
            expected=[JobStatus.QUEUED],
            event=JobEvent(JobEventType.FAILED, now, reason),
            updates={"ended_at": now, "failure_reason": reason},
        )
        log_job(job.job_arn, JobStatus.FAILED.value, reason)

    def _supervise(self, job: Job, attach: bool) -> None:
        supervisor: JobSupervisor
        if self.cluster is not None:
            supervisor = ClusterJobSupervisor(
                self.context, job, self._supervisor_done, self.cluster, attach=attach
            )
        else:
            supervisor = JobSupervisor(self.context, job, self._supervisor_done, attach=attach)
        with self._lock:
            self._supervisors[job.job_arn] = supervisor
        log_job(job.job_arn, "RE-ATTACHING" if attach else "STARTING", owner=self.context.owner)
        supervisor.start()

    def _supervisor_done(self, supervisor: JobSupervisor) -> None:
        with self._lock:
            self._supervisors.pop(supervisor.job.job_arn, None)
        self._wake.set()  # capacity freed
        for listener in self.listeners:
            listener()

    # -- ownership ------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        now = utcnow()
        every = min(_HEARTBEAT_SECONDS, self.context.settings.heartbeat_timeout_seconds / 4)
        if now.timestamp() - self._last_heartbeat < every:
            return
        self._last_heartbeat = now.timestamp()
        self.context.store.heartbeat(self.context.owner, self.running_jobs(), now)

    def _reconcile(self, everyone_else_is_gone: bool = False) -> None:
        """Take over unfinished jobs whose owner is gone: re-attach to their instances if
        they were started, else fail them with a reason that says why. With
        ``everyone_else_is_gone`` (this process has just taken the scheduler lease, so any
        other owner lost it) every other owner's job is taken over at once; a previous
        holder that still runs is fenced out by the claim epochs."""
        timeout = datetime.timedelta(seconds=self.context.settings.heartbeat_timeout_seconds)
        now = utcnow()
        mine = set(self.running_jobs())
        for job in self.context.store.list_jobs([JobStatus.RUNNING, JobStatus.CANCELLING]):
            if job.job_arn in mine:
                continue
            if job.owner == self.context.owner:
                # Ours, yet no supervisor watches it: its final write failed (the database
                # was away). Watch it again; it ends as soon as it can be written.
                log.warning("job %s: no supervisor left; re-attaching", job.job_arn)
                self._supervise(job, attach=True)
                continue
            stale = job.heartbeat_at is None or now - job.heartbeat_at > timeout
            if not (everyone_else_is_gone or owner_is_dead(job.owner) or stale):
                continue
            claim = self.context.store.take_over(
                job.job_arn, Claim(job.owner, job.claim_epoch), self.context.owner, now
            )
            if claim is None:
                continue  # someone else took it over first
            job.owner, job.claim_epoch = claim.owner, claim.epoch
            if job.runner_state.get("instances") or job.runner_state.get("cluster_instances"):
                log.info("job %s: re-attaching after a service restart", job.job_arn)
                self._supervise(job, attach=True)
            else:
                try:
                    self._fail_unstarted(job)
                except ClaimLost:
                    continue  # taken over again meanwhile

    def _fail_unstarted(self, job: Job) -> None:
        now = utcnow()
        reason = (
            "ServiceRestarted: the hybridjobs service stopped while the job was starting, "
            "before its instances ran; submit it again."
        )
        self.context.store.transition(
            job.job_arn,
            JobStatus.CANCELLED if job.status is JobStatus.CANCELLING else JobStatus.FAILED,
            expected=[job.status],
            event=JobEvent(
                JobEventType.CANCELLED
                if job.status is JobStatus.CANCELLING
                else JobEventType.FAILED,
                now,
                reason,
            ),
            updates={"ended_at": now, "failure_reason": reason},
            claim=Claim(job.owner, job.claim_epoch),
        )
        if self.cluster is not None:  # a reservation (and agents) it may have left
            self._release(job)
