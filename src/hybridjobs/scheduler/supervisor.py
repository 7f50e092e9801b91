"""One job's life after its claim: prepare, download, start, watch, stop, finish.

A :class:`JobSupervisor` is a thread. It records every step as an event, keeps the
runner's record (pids, start times) in ``Job.runner_state`` and how far each instance's
log file is stored with the lines themselves (``JobStore.ship_log_file``), so a restarted
service re-attaches and ships every line once, and always ends the job in a terminal status with a readable
``failureReason`` when it did not complete (the end itself is in ``finisher.py``; the
set-up step in ``instancesetup.py``; the checkpoint sync while it runs in
``checkpointsync.py``).
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hybridjobs import jobdata
from hybridjobs.environments.build import BuildCancelled, EnvironmentBuildError
from hybridjobs.instanceend import last_error_line
from hybridjobs.jobs.model import (
    Job,
    JobEvent,
    JobEventType,
    JobStatus,
    utcnow,
)
from hybridjobs.logtail import LogTail
from hybridjobs.observability.accesslog import log_job
from hybridjobs.runners import contract
from hybridjobs.runners.containerlauncher import ContainerLauncher
from hybridjobs.runners.local import InstanceHandle, stop_all
from hybridjobs.runners.mpi import mpi_requested
from hybridjobs.scheduler.checkpointsync import CheckpointSync
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.scheduler.finisher import FinalWriteFailed, JobFinisher, Outcome
from hybridjobs.scheduler.instancesetup import InstanceSetup
from hybridjobs.scheduler.locallaunch import prefetch_script, prepare_instance, start_instance
from hybridjobs.store.base import Claim, ClaimLost

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_STATUS_CHECK_SECONDS = 1.0
_STATE_SAVE_SECONDS = 2.0


class JobSupervisor(threading.Thread, InstanceSetup, CheckpointSync):
    """Runs one claimed job to a terminal status."""

    def __init__(
        self,
        context: SchedulerContext,
        job: Job,
        on_exit: Callable[[JobSupervisor], None],
        attach: bool = False,
    ) -> None:
        super().__init__(name=f"job-{job.job_id[:8]}", daemon=True)
        self.context = context
        self.job = job
        self.claim = Claim(job.owner, job.claim_epoch)
        """Every write about the job is fenced by it: once another scheduler has taken the
        job over, this supervisor writes nothing, stops nothing and leaves."""
        self.on_exit = on_exit
        self.attach = attach
        self.wake = threading.Event()
        self.handles: list[InstanceHandle] = []
        self.tails: list[LogTail] = []
        self.paths: list[contract.InstancePaths] = []
        self.run_started = time.time()
        # Instances that exited before this moment did so while no service watched them
        # (a re-attaching supervisor's instances ended during the restart).
        self.took_over = time.time()
        self.failure: tuple[str, int] | None = None  # (text, exit code)
        self.stop_reason: str | None = None  # why a stop check stopped the job
        self._checkpoint_thread: threading.Thread | None = None
        self._checkpoint_errors: set[str] = set()  # already written to the job's log

    # -- thread entry ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._layout()
            if not (self._reattach() if self.attach else self._start()):
                return
            outcome = self._watch()
            if outcome is Outcome.SERVICE_STOPPED and self.context.detach_on_stop:
                self._detach()
                return
            self._finish(outcome)
            self._release_instances()
        except ClaimLost:
            self._leave()
        except FinalWriteFailed:
            log.exception(
                "job %s: its final status could not be written; the scheduler will try again",
                self.job.job_arn,
            )
        except BuildCancelled:  # its environment was still building
            if not self.holds_claim():
                self._leave()
            elif not self.context.stopping.is_set():
                self._finish(Outcome.CANCELLED)
            elif self.context.detach_on_stop:  # the next start finds it (none started)
                log_job(self.job.job_arn, "DETACHED", instances=0)
            else:
                self._finish(Outcome.SERVICE_STOPPED)
        except EnvironmentBuildError as exc:
            if not self.holds_claim():
                self._leave()
                return
            self.stop_instances()
            self._end(JobStatus.FAILED, f"ClientError: the job's image cannot run: {exc}")
        except Exception as exc:
            log.exception("job %s: supervisor failed", self.job.job_arn)
            if not self.holds_claim():
                self._leave()
                return
            self.stop_instances()
            self._end(
                JobStatus.FAILED,
                f"InternalServiceError: hybridjobs could not run the job: {exc}",
                detail="".join(traceback.format_exception_only(exc)).strip(),
            )
        finally:
            self.on_exit(self)

    def holds_claim(self) -> bool:
        """Whether this supervisor still holds the job (checked before it stops processes
        or publishes objects, which no database write can fence)."""
        try:
            return self.context.store.holds(self.job.job_arn, self.claim)
        except Exception:
            log.exception("job %s: cannot read the job's claim", self.job.job_arn)
            return False

    def _leave(self) -> None:
        """Another scheduler holds the job now (this one stalled past the heartbeat
        timeout): leave its instances, files and records to it."""
        log.warning(
            "job %s: another scheduler has taken the job over (this one lost its claim, "
            "epoch %d); leaving the job to it",
            self.job.job_arn,
            self.claim.epoch,
        )

    def _detach(self) -> None:
        """The service is stopping and leaves the job running: store the lines written so
        far and the instances' state, then leave the instances to the next start (which
        re-attaches, as after a crash)."""
        self._ship_logs()
        self._save_state()
        log_job(self.job.job_arn, "DETACHED", instances=len(self.handles))

    # -- what differs between runners ----------------------------------------------------

    def stop_instances(self) -> None:
        """Stop every instance: SIGTERM to each process group, the grace, SIGKILL (to each
        group, sandbox and cgroup)."""
        stop_all(self.handles, self.context.settings.stop_grace_seconds)
        self._release_instances()

    def _release_instances(self) -> None:
        """The job has ended: kill what is left in the instances' cgroups (a ``setsid``
        child of a completed instance) and remove them."""
        for handle in self.handles:
            if handle.cgroup is not None:
                handle.cgroup.kill_all()
            handle.release()

    def failed_host(self) -> str | None:
        """The instance that failed the job (the first with a non-zero exit or a failure
        file); what the end of a FAILED job names."""
        for index, handle in enumerate(self.handles):
            if handle.exit_code() not in (None, 0) or self._failure_text(index):
                return handle.host
        return None

    def recorded_exits(self) -> list[float | None]:
        """When each instance's bootstrap wrote its exit file; ``None`` where there is none
        (an instance that was killed, or is still running)."""
        exits: list[float | None] = []
        for handle in self.handles:
            try:
                exits.append(Path(handle.exit_file).stat().st_mtime)
            except OSError:
                exits.append(None)
        return exits

    def results_dirs(self, scratch: Path) -> list[Path]:
        """The instances' results directories, ``algo-1`` first (``scratch``: where a
        runner without a shared disk may fetch them to)."""
        return [p.model_dir for p in self.paths]

    # -- set-up ---------------------------------------------------------------------------

    def _hosts(self) -> list[str]:
        return [f"algo-{i}" for i in range(1, self.job.instance_count + 1)]

    def _event(self, event_type: JobEventType, message: str) -> None:
        event = JobEvent(event_type, utcnow(), message)
        self.context.store.add_event(self.job.job_arn, event, claim=self.claim)

    def _start(self) -> bool:
        store, objects = self.context.store, self.context.objects
        definition = self.job.definition
        isolated = self.launcher.isolates
        pids_max = self.context.settings.sandbox_pids_max
        prepared = [prepare_instance(launch, isolated, pids_max) for launch in self.launches]
        self._event(
            JobEventType.DOWNLOADING_DATA,
            "Downloading input data and checkpoints for "
            f"{len(self.launches)} instance(s): {', '.join(self._hosts())}.",
        )
        channels = definition.get("inputDataConfig") or []
        checkpoint_uri = (definition.get("checkpointConfig") or {}).get("s3Uri")
        for instance in prepared if isolated else ():
            prefetch_script(objects, instance)
        for launch, paths in ((p.launch, p.paths) for p in prepared):
            if channels:
                try:
                    jobdata.download_channels(objects, channels, paths.input_data_dir)
                except jobdata.DataDownloadError as exc:
                    self._end(JobStatus.FAILED, f"ClientError: Data download failed: {exc}")
                    return False
            if checkpoint_uri:
                problems: list[str] = []
                jobdata.restore_checkpoints(objects, checkpoint_uri, paths.checkpoint_dir, problems)
                self.say_in_log(launch.current_host, problems)
        mpi = mpi_requested(definition.get("hyperParameters") or {})
        mpirun = self._find_mpirun() if mpi else None
        if mpi and mpirun is None:
            self._end(JobStatus.FAILED, self._no_mpirun_reason())
            return False
        current = store.get_job(self.job.job_arn)
        if current is None or current.status is not JobStatus.RUNNING:
            self._finish(Outcome.CANCELLED)
            return False
        self.run_started = time.time()
        for instance in prepared[: self._process_count()]:
            handle = start_instance(
                self.launcher,
                instance,
                mpirun,
                definition.get("hyperParameters") or {},
                self.job.instance_count,
            )
            self.handles.append(handle)
            # Record each instance as soon as it runs: a service that dies now must find
            # every started process again (to re-attach to it, or to stop it).
            self._save_state()
        for handle in self.handles:
            if handle.popen is not None:
                threading.Thread(
                    target=_notify_on_exit, args=(handle, self.wake), daemon=True
                ).start()
        self._event(
            JobEventType.RUNNING,
            f"Running {definition['algorithmSpecification'].get('scriptModeConfig', {}).get('entryPoint', 'the container')} "
            f"on {len(self.handles)} instance(s).",
        )
        return True

    def _find_mpirun(self) -> str | None:
        """The MPI launcher the job's algo-1 runs: the service's (``--mpirun``) on this
        host, or, for an image that runs as a container, the image's own."""
        name = self.context.settings.mpirun
        if isinstance(self.launcher, ContainerLauncher):
            return self.launcher.find_command(name)
        return shutil.which(name)

    def _no_mpirun_reason(self) -> str:
        """The failure reason of an MPI job whose launcher :meth:`_find_mpirun` missed."""
        name = self.context.settings.mpirun
        if isinstance(self.launcher, ContainerLauncher):
            where = (
                f"the job's container image {self.launcher.image} has no {name!r} on its "
                "PATH; install Open MPI in the image"
            )
        else:
            where = (
                f"this service's MPI launcher {name!r} was not found; install Open MPI "
                "(Debian: apt-get install openmpi-bin)"
            )
        return (
            f"AlgorithmError: hyperparameter sagemaker_mpi_enabled is true but {where} or "
            "drop the MPI hyperparameters, exit code: 1"
        )

    def _process_count(self) -> int:
        """Processes the job starts: one per instance, or only algo-1's mpirun under MPI."""
        if mpi_requested(self.job.definition.get("hyperParameters") or {}):
            return 1
        return self.job.instance_count

    def _reattach(self) -> bool:
        """Take over the instances a previous service started; ``False`` (job ended) when
        it died before starting them all."""
        state = self.job.runner_state
        self.handles = [InstanceHandle.from_state(s) for s in state.get("instances", [])]
        self.run_started = float(state.get("run_started", time.time()))
        alive = [h.host for h in self.handles if h.is_alive()]
        log.info("job %s: re-attached; alive instances: %s", self.job.job_arn, alive or "none")
        if len(self.handles) < self._process_count():
            stop_all(self.handles, self.context.settings.stop_grace_seconds)
            self._end(
                JobStatus.FAILED,
                "ServiceRestarted: the hybridjobs service stopped while the job's instances "
                f"were starting ({len(self.handles)} of {self._process_count()} started); "
                "they were stopped; submit the job again.",
            )
            return False
        return True

    def _save_state(self) -> None:
        state = dict(self.job.runner_state)
        state.update(
            instances=[h.to_state() for h in self.handles],
            run_started=self.run_started,
        )
        self.job.runner_state = state
        self.context.store.update_job(
            self.job.job_arn, {"runner_state": state, "heartbeat_at": utcnow()}, claim=self.claim
        )

    # -- watching -------------------------------------------------------------------------

    def _ship_logs(self, final: bool = False) -> bool:
        """Store the lines (and metrics) the instances wrote since the last call; returns
        whether there were any."""
        store = self.context.store
        shipped = False
        for tail in self.tails:
            before = (tail.offset, tail.partial)
            events, metrics = tail.read(final=final)
            if tail.offset == before[0] and not events:
                continue
            try:  # lines, metrics and the file offset in one transaction: exactly once
                store.ship_log_file(
                    self.job.job_arn,
                    tail.instance,
                    events,
                    metrics,
                    tail.consumed,
                    claim=self.claim,
                )
            except ClaimLost:
                raise
            except Exception:  # shipping output must never decide the job's outcome
                log.exception("%s: cannot store lines of %s", self.job.job_arn, tail.instance)
                tail.rewind(*before)  # read them again at the next call
                continue
            shipped = shipped or bool(events)
        return shipped

    def _failure_text(self, index: int) -> str:
        failure = self.paths[index].failure_file
        try:
            return failure.read_text(errors="replace").strip()
        except OSError:
            return ""

    def _watch(self) -> Outcome:
        max_runtime = self.job.max_runtime_seconds
        next_status_check = 0.0
        next_state_save = time.monotonic() + _STATE_SAVE_SECONDS
        sync_every = self.context.settings.checkpoint_sync_seconds
        next_checkpoint_sync = time.monotonic() + sync_every
        while True:
            self._ship_logs()  # the offsets are stored with the lines
            codes = [h.exit_code() for h in self.handles]
            for index, code in enumerate(codes):
                failure = self._failure_text(index) if code is not None else ""
                if code not in (None, 0) or failure:
                    text = self.limits.memory_text(index, self.handles[index])
                    text = text or failure or self._exit_text(index, code or 1)
                    self.failure = (text, code if code is not None else 1)
                    return Outcome.FAILED
            if all(code == 0 for code in codes):
                return Outcome.COMPLETED
            if outgrown := self.limits.volume_text():
                self.failure = (outgrown, 1)
                return Outcome.FAILED
            if time.time() - self.run_started > max_runtime:
                return Outcome.TIMED_OUT
            if self.context.stopping.is_set():
                return Outcome.SERVICE_STOPPED
            now = time.monotonic()
            if self.wake.is_set() or now >= next_status_check:
                self.wake.clear()
                next_status_check = now + _STATUS_CHECK_SECONDS
                current = self.context.store.get_job(self.job.job_arn)
                if current is None or current.status is JobStatus.CANCELLING:
                    return Outcome.CANCELLED
                for check in self.context.stop_checks:
                    if reason := check(current):
                        self.stop_reason = reason
                        return Outcome.STOPPED
            if now >= next_state_save:
                next_state_save = now + _STATE_SAVE_SECONDS
                self._save_state()
            if now >= next_checkpoint_sync:
                next_checkpoint_sync = now + sync_every
                self._sync_checkpoints_in_background()
            self.wake.wait(_POLL_SECONDS)

    def _exit_text(self, index: int, code: int) -> str:
        """What to say about an instance that exited non-zero without a failure file.

        The bootstrap writes the exit file whenever it returns, so a missing file means the
        process was killed: by the signal its status names, or (re-attached instances,
        whose status nobody saw) while the service was down.
        """
        handle = self.handles[index]
        if Path(handle.exit_file).exists():
            return self._last_error_line(index)
        if self.attach:
            return (
                f"{handle.host} ended while the hybridjobs service was not running (the "
                "service restarted) and left no exit status, so it was killed"
            )
        if code > 128:
            return f"{handle.host} was killed by {_signal_name(code - 128)}"
        return self._last_error_line(index)

    def _last_error_line(self, index: int) -> str:
        return last_error_line(self.paths[index].log_file)

    # -- the end (scheduler/finisher.py) ------------------------------------------------

    def _finish(self, outcome: Outcome) -> None:
        JobFinisher(self).finish(outcome)

    def _end(self, status: JobStatus, reason: str | None, detail: str = "") -> None:
        JobFinisher(self).end(status, reason, detail=detail)


def _notify_on_exit(handle: InstanceHandle, wake: threading.Event) -> None:
    if handle.popen is not None:
        handle.popen.wait()
    wake.set()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
