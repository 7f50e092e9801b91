"""A job whose instances run on a cluster (:mod:`hybridjobs.runners.cluster`).

The instances' agents do on their machines what the local supervisor does through the
shared disk: download the channels and checkpoints, ship the output to the Logs surface,
sync checkpoints and upload each instance's results. So a
:class:`ClusterJobSupervisor` plans the instances, starts them on the job's reservation,
watches the agents' reports, stops them on cancel, max runtime or another instance's
failure, and ends the job as the local supervisor does (``finisher.py``), packing
``model.tar.gz`` from the results the agents uploaded. A machine or agent that dies ends
the job FAILED with a reason naming the instance and its node.

The job's events and failure reasons are those of a local job: ``RUNNING`` once every
agent has started its instance (its input data and checkpoints in place; the maximum
runtime counts from then); a channel that cannot be downloaded fails the job with the
agent's ``ClientError: Data download failed: …`` and no ``RUNNING``; an instance's
failure reads ``AlgorithmError: <its failure text>, exit code: <its exit code>``, and one
killed while no scheduler watched says so.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from hybridjobs import archives
from hybridjobs.agent.agent import AgentReport
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.environments.build import EnvironmentBuildError
from hybridjobs.environments.nodes import plan_environment
from hybridjobs.environments.placement import CLUSTER_TWINS_NOTE, image_catalog
from hybridjobs.jobs.logstreams import LOG_GROUP, stream_name
from hybridjobs.jobs.model import Job, JobEventType, JobStatus
from hybridjobs.objects import ObjectStoreError, parse_s3_uri
from hybridjobs.runners.cluster import (
    ClusterRunner,
    InstanceLost,
    RemoteInstance,
)
from hybridjobs.runners.mpi import mpi_requested
from hybridjobs.sandbox.setup import policy_for
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.scheduler.finisher import Outcome
from hybridjobs.scheduler.launchplan import free_port, job_credentials
from hybridjobs.scheduler.supervisor import JobSupervisor
from hybridjobs.store.base import ClaimLost

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1
_STOP_WAIT_SECONDS = 60.0
"""How long after the grace period a stop waits for the agents' last reports."""
_SERVICE_STOP_WAIT_SECONDS = 3.0
"""The same when the service itself stops: its API is down already, so the agents cannot
hand over their last lines; releasing the reservation then ends the agents."""
RESULTS_STAGING = ".hybridjobs-instances"
"""Under the job's output location, where each agent uploads its instance's results
(``<s3Path>/.hybridjobs-instances/algo-N.tar.gz``); removed once the job has ended."""


class ClusterJobSupervisor(JobSupervisor):
    """Runs one claimed job on ``cluster`` to a terminal status."""

    def __init__(
        self,
        context: SchedulerContext,
        job: Job,
        on_exit: Callable[[JobSupervisor], None],
        cluster: ClusterRunner,
        attach: bool = False,
    ) -> None:
        super().__init__(context, job, on_exit, attach=attach)
        self.cluster = cluster
        self.remotes: list[RemoteInstance] = []
        self.reports: dict[str, AgentReport] = {}
        self.start_failure: str | None = None
        """The failure reason of an instance that could not start (its input data)."""

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._clean_up()

    # -- set-up ---------------------------------------------------------------------------

    def _layout(self) -> None:
        """Nothing is laid out here: each agent lays its instance out on its machine."""

    def _plans(self) -> list[AgentPlan]:
        settings = self.context.settings
        resources = self.context.instance_types[self.job.instance_type]
        state = self.job.runner_state
        master_port = int(state.get("master_port") or free_port())
        state["master_port"] = master_port
        credentials = job_credentials(self.context.store, self.job)
        sandbox = policy_for(settings)
        image = self._image()
        environment = image_catalog(settings).resolve(image)
        if environment is None:  # unmapped since CreateJob
            raise EnvironmentBuildError(image_catalog(settings).problem(image) or str(image))
        if environment.kind == "container":
            raise EnvironmentBuildError(
                f"image {image} is mapped to the container {environment.image}, and the Ray "
                "runner starts instances as processes on its nodes, not containers; map the "
                "image with `hybridjobs images add URI --requirements FILE` or `--python PATH` "
                "to run it on Ray"
            )
        twins = resources.gpus > 0 and self.cluster.gpu_twins
        return [
            AgentPlan(
                job_arn=self.job.job_arn,
                job_name=self.job.job_name,
                job_id=self.job.job_id,
                request=self.job.definition,
                host_index=index,
                hosts=self._hosts(),
                region=self.job.region,
                endpoint_url=settings.endpoint_url,
                access_key_id=credentials.access_key_id,
                secret_access_key=credentials.secret_access_key,
                session_token=credentials.session_token,
                job_token=self.job.job_token or self.job.job_id,
                master_port=master_port,
                instance_resources=(int(resources.vcpus), resources.memory_gib, resources.gpus),
                log_group=LOG_GROUP,
                log_stream=stream_name(self.job, host),
                results_uri=self._staged_results_uri(host),
                checkpoint_sync_seconds=settings.checkpoint_sync_seconds,
                stop_grace_seconds=settings.stop_grace_seconds,
                sandbox_mode=sandbox.mode,
                sandbox_allow_unsandboxed=sandbox.allow_unsandboxed,
                sandbox_warm_starts=sandbox.warm_starts,
                sandbox_pids_max=sandbox.pids_max,
                archive_limits=dict(settings.archive_limits),
                image_uri=image or "",
                environment=plan_environment(environment),
                gpu_twins=twins,
            )
            for index, host in enumerate(self._hosts(), start=1)
        ]

    def _image(self) -> str | None:
        """The job's container image URI (``None``: none)."""
        spec = self.job.definition["algorithmSpecification"]
        uri = (spec.get("containerImage") or {}).get("uri")
        return str(uri) if uri else None

    def _staged_results_uri(self, host: str) -> str:
        s3_path = str(self.job.definition["outputDataConfig"]["s3Path"]).rstrip("/")
        return f"{s3_path}/{RESULTS_STAGING}/{host}.tar.gz"

    def _start(self) -> bool:
        if mpi_requested(self.job.definition.get("hyperParameters") or {}):
            self._end(
                JobStatus.FAILED,
                "AlgorithmError: MPI jobs (sagemaker_mpi_enabled) run with the local runner "
                "only; this service runs jobs on a Ray cluster, exit code: 1",
            )
            return False
        current = self.context.store.get_job(self.job.job_arn)
        if current is None or current.status is not JobStatus.RUNNING:
            self._finish(Outcome.CANCELLED)
            return False
        resources = self.context.instance_types[self.job.instance_type]
        plans = self._plans()
        if plans and plans[0].gpu_twins:
            self._event(
                JobEventType.STARTING_INSTANCE,
                CLUSTER_TWINS_NOTE.format(instance_type=self.job.instance_type),
            )
        self.run_started = time.time()
        self.remotes = self.cluster.start(self.job, resources, plans)
        self._watch_remotes()
        self._save_state()
        places = ", ".join(f"{r.host} on {r.address} (node {r.node_id[:12]})" for r in self.remotes)
        self._event(
            JobEventType.DOWNLOADING_DATA,
            f"Instance agents started on the Ray cluster: {places}; each downloads its "
            "input data and checkpoints.",
        )
        return True

    def _reattach(self) -> bool:
        states = self.job.runner_state.get("cluster_instances", [])
        self.run_started = float(self.job.runner_state.get("run_started", time.time()))
        try:
            self.remotes = self.cluster.attach(self.job, states)
        except InstanceLost as exc:
            self.failure = (str(exc), 1)
            self._finish(Outcome.FAILED)
            return False
        if len(self.remotes) < self.job.instance_count:
            self.stop_instances()
            self._end(
                JobStatus.FAILED,
                "ServiceRestarted: the hybridjobs scheduler stopped while the job's instances "
                f"were starting on the cluster ({len(self.remotes)} of "
                f"{self.job.instance_count} started); they were stopped; submit the job again.",
            )
            return False
        for remote in self.remotes:  # this service may listen elsewhere than the last
            remote.redirect(self.context.settings.endpoint_url)
        self._watch_remotes()
        log.info(
            "job %s: re-attached to %d cluster instance(s)", self.job.job_arn, len(self.remotes)
        )
        return True

    def _watch_remotes(self) -> None:
        """Wake the watch loop whenever an instance may have started or ended (it polls
        at once instead of at its next pass)."""
        for remote in self.remotes:
            remote.watch(self.wake.set)

    def _save_state(self, **extra: object) -> None:
        state = dict(self.job.runner_state)
        state.update(
            cluster_instances=[r.to_state() for r in self.remotes],
            run_started=self.run_started,
            **extra,
        )
        self.job.runner_state = state
        self.context.store.update_job(self.job.job_arn, {"runner_state": state}, claim=self.claim)

    # -- watching -------------------------------------------------------------------------

    def _ship_logs(self, final: bool = False) -> bool:
        """The agents ship their instances' output themselves."""
        return False

    def _sync_checkpoints(self) -> None:
        """The agents sync their instances' checkpoints themselves."""

    def _poll(self) -> None:
        """Collect the reports of instances that ended (raises InstanceLost)."""
        for remote in self.remotes:
            if remote.host not in self.reports:
                report = remote.poll()
                if report is not None:
                    self.reports[remote.host] = report

    def _announce_running(self) -> None:
        """The RUNNING event, once every instance has started (once in the job's life,
        restarts of the scheduler included); the maximum runtime counts from here."""
        if self.job.runner_state.get("running_announced"):
            return
        if not all(remote.started for remote in self.remotes):
            return
        self.run_started = time.time()
        entry = (
            self.job.definition["algorithmSpecification"]
            .get("scriptModeConfig", {})
            .get("entryPoint", "the container")
        )
        self._event(JobEventType.RUNNING, f"Running {entry} on {len(self.remotes)} instance(s).")
        self._save_state(running_announced=True)

    def _failed(self) -> Outcome | None:
        """FAILED when an instance's report fails the job (algo-1 first), with
        :attr:`failure` or :attr:`start_failure` set; ``None`` when none does."""
        for remote in self.remotes:
            report = self.reports.get(remote.host)
            if report is None or not report.failed:
                continue
            if not report.started:
                self.start_failure = report.failure
            else:
                self.failure = (self._failure_of(report), report.exit_code)
            return Outcome.FAILED
        return None

    def _failure_of(self, report: AgentReport) -> str:
        """The failure text of an instance that ran; one killed while no scheduler
        watched (the service restarted meanwhile) says so."""
        text = report.failure or f"{report.host} failed"
        if report.killed and self.attach and report.ended_at < self.took_over:
            text += " while the hybridjobs service was not running (the service restarted)"
        return text

    def _all_ended(self) -> Outcome:
        """Every instance has ended without failing: COMPLETED, unless one was stopped
        (a previous scheduler began to stop the job): then the job's cancel wins, else it
        FAILED."""
        stopped = [r for r in self.reports.values() if r.stopped]
        if not stopped:
            return Outcome.COMPLETED
        current = self.context.store.get_job(self.job.job_arn)
        if current is None or current.status is JobStatus.CANCELLING:
            return Outcome.CANCELLED
        self.failure = (f"{stopped[0].host} was stopped before it ended", stopped[0].exit_code)
        return Outcome.FAILED

    def _watch(self) -> Outcome:
        max_runtime = self.job.max_runtime_seconds
        next_status_check = 0.0
        while True:
            try:
                self._poll()
            except InstanceLost as exc:
                self.failure = (str(exc), 1)
                return Outcome.FAILED
            self._announce_running()
            failed = self._failed()
            if failed is not None:
                return failed
            if len(self.reports) == len(self.remotes):
                return self._all_ended()
            if time.time() - self.run_started > max_runtime:
                return Outcome.TIMED_OUT
            if self.context.stopping.is_set():
                return Outcome.SERVICE_STOPPED
            now = time.monotonic()
            if self.wake.is_set() or now >= next_status_check:
                self.wake.clear()
                next_status_check = now + 1.0
                current = self.context.store.get_job(self.job.job_arn)
                if current is None or current.status is JobStatus.CANCELLING:
                    return Outcome.CANCELLED
            self.wake.wait(_POLL_SECONDS)

    # -- the end --------------------------------------------------------------------------

    def _finish(self, outcome: Outcome) -> None:
        """As the local supervisor ends a job; an instance that could not start fails the
        job with its agent's reason (``ClientError: Data download failed: …``), the
        others stopped."""
        if self.start_failure is None:
            super()._finish(outcome)
            return
        if not self.holds_claim():
            raise ClaimLost(self.job.job_arn, self.claim)
        self.stop_instances()
        self._end(JobStatus.FAILED, self.start_failure)

    def stop_instances(self) -> None:
        """Ask every agent to stop its instance (SIGTERM, grace, SIGKILL on its machine)
        and wait for their last reports (their final log lines and checkpoints)."""
        for remote in self.remotes:
            if remote.host not in self.reports:
                remote.stop()
        stopping = self.context.stopping.is_set()
        wait = _SERVICE_STOP_WAIT_SECONDS if stopping else _STOP_WAIT_SECONDS
        deadline = time.monotonic() + self.context.settings.stop_grace_seconds + wait
        while time.monotonic() < deadline and len(self.reports) < len(self.remotes):
            try:
                self._poll()
            except InstanceLost:
                break
            time.sleep(_POLL_SECONDS)

    def results_dirs(self, scratch: Path) -> list[Path]:
        """Each instance's uploaded results, unpacked under ``scratch`` (an instance that
        uploaded none contributes an empty directory). The staged archives stay until the
        job has ended (:meth:`_clean_up`): a scheduler that finishes the job again after a
        failed final write packs the same results."""
        dirs: list[Path] = []
        for host in self._hosts():
            target = scratch / f".results-{host}"
            target.mkdir(parents=True, exist_ok=True)
            archive = scratch / f".results-{host}.tar.gz"
            bucket, key = parse_s3_uri(self._staged_results_uri(host))
            try:
                self.context.objects.get_to_file(bucket, key, archive)
                archives.extract_archive(archive, target)
            except (ObjectStoreError, OSError, tarfile.TarError, archives.ArchiveError) as exc:
                log.warning("job %s: no results from %s: %s", self.job.job_arn, host, exc)
            finally:
                archive.unlink(missing_ok=True)
            dirs.append(target)
        return dirs

    def _failure_text(self, index: int) -> str:
        report = self.reports.get(self._hosts()[index])
        return report.failure if report is not None else ""

    def failed_host(self) -> str | None:
        """The instance whose report failed the job (algo-1 first); what the end of a
        FAILED job names, as the local supervisor's exit codes tell it for processes."""
        for host in self._hosts():
            report = self.reports.get(host)
            if report is not None and report.failed:
                return host
        return None

    def recorded_exits(self) -> list[float | None]:
        """When each instance ended, as its agent recorded it (``None``: no report yet);
        what billing uses for instances that ended while no scheduler watched them."""
        return [
            report.ended_at if (report := self.reports.get(host)) is not None else None
            for host in self._hosts()
        ]

    def _clean_up(self) -> None:
        """Remove this process's scratch copies of the results; once the job has ended,
        also give back its reservation (its agents end) and remove the staged results. A
        job that has not ended (another scheduler holds it now, or its final status could
        not be written and a scheduler will watch it again) keeps its agents, reservation
        and staged results for whoever finishes it."""
        scratch = self.context.settings.jobs_dir / self.job.job_id
        for host in self._hosts():
            shutil.rmtree(scratch / f".results-{host}", ignore_errors=True)
        if not self._ended():
            return
        try:
            self.cluster.release(self.job)
        except Exception:
            log.exception("job %s: cannot release its cluster reservation", self.job.job_arn)
        for host in self._hosts():
            bucket, key = parse_s3_uri(self._staged_results_uri(host))
            try:
                self.context.objects.delete(bucket, key)
            except Exception:
                log.debug("job %s: no staged results of %s", self.job.job_arn, host)

    def _ended(self) -> bool:
        """Whether the job is in a terminal status (``False`` when that cannot be read)."""
        try:
            current = self.context.store.get_job(self.job.job_arn)
        except Exception:
            log.exception("job %s: cannot read whether it has ended", self.job.job_arn)
            return False
        return current is None or current.is_terminal
