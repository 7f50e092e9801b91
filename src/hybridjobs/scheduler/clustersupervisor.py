"""A job whose instances run on a cluster (:mod:`hybridjobs.runners.cluster`).

The instances' agents do on their machines what the local supervisor does through the
shared disk: download the channels and checkpoints, ship the output to the Logs surface,
sync checkpoints and upload each instance's results. So a
:class:`ClusterJobSupervisor` plans the instances, starts them on the job's reservation,
watches the agents' reports, stops them on cancel, max runtime or another instance's
failure, and ends the job as the local supervisor does (``finisher.py``), packing
``model.tar.gz`` from the results the agents uploaded. A machine or agent that dies ends
the job FAILED with a reason naming the instance and its node.
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
from hybridjobs.jobs.logstreams import LOG_GROUP, stream_name
from hybridjobs.jobs.model import Job, JobEventType, JobStatus
from hybridjobs.objects import ObjectStoreError, parse_s3_uri
from hybridjobs.runners.cluster import (
    ClusterRunner,
    InstanceLost,
    RemoteInstance,
)
from hybridjobs.runners.mpi import mpi_requested
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.scheduler.finisher import Outcome
from hybridjobs.scheduler.launchplan import free_port, job_credentials
from hybridjobs.scheduler.supervisor import JobSupervisor

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1
_STOP_WAIT_SECONDS = 60.0
"""How long after the grace period a stop waits for the agents' last reports."""
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
        access_key, secret_key = job_credentials(settings.credentials)
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
                access_key_id=access_key,
                secret_access_key=secret_key,
                job_token=self.job.job_token or self.job.job_id,
                master_port=master_port,
                instance_resources=(int(resources.vcpus), resources.memory_gib, resources.gpus),
                log_group=LOG_GROUP,
                log_stream=stream_name(self.job, host),
                results_uri=self._staged_results_uri(host),
                checkpoint_sync_seconds=settings.checkpoint_sync_seconds,
                stop_grace_seconds=settings.stop_grace_seconds,
            )
            for index, host in enumerate(self._hosts(), start=1)
        ]

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
        self.run_started = time.time()
        self.remotes = self.cluster.start(self.job, resources, self._plans())
        self._save_state()
        places = ", ".join(f"{r.host} on {r.address} (node {r.node_id[:12]})" for r in self.remotes)
        self._event(
            JobEventType.DOWNLOADING_DATA,
            f"Instance agents started on the Ray cluster: {places}; each downloads its "
            "input data and checkpoints.",
        )
        entry = (
            self.job.definition["algorithmSpecification"]
            .get("scriptModeConfig", {})
            .get("entryPoint", "the container")
        )
        self._event(JobEventType.RUNNING, f"Running {entry} on {len(self.remotes)} instance(s).")
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
        log.info(
            "job %s: re-attached to %d cluster instance(s)", self.job.job_arn, len(self.remotes)
        )
        return True

    def _save_state(self) -> None:
        state = dict(self.job.runner_state)
        state.update(
            cluster_instances=[r.to_state() for r in self.remotes], run_started=self.run_started
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

    def _watch(self) -> Outcome:
        max_runtime = self.job.max_runtime_seconds
        next_status_check = 0.0
        while True:
            try:
                self._poll()
            except InstanceLost as exc:
                self.failure = (str(exc), 1)
                return Outcome.FAILED
            for remote in self.remotes:
                report = self.reports.get(remote.host)
                if report is not None and (report.exit_code != 0 or report.failure):
                    self.failure = (
                        report.failure or f"{remote.host} failed",
                        report.exit_code or 1,
                    )
                    return Outcome.FAILED
            if len(self.reports) == len(self.remotes):
                return Outcome.COMPLETED
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

    def stop_instances(self) -> None:
        """Ask every agent to stop its instance (SIGTERM, grace, SIGKILL on its machine)
        and wait for their last reports (their final log lines and checkpoints)."""
        for remote in self.remotes:
            if remote.host not in self.reports:
                remote.stop()
        deadline = time.monotonic() + self.context.settings.stop_grace_seconds + _STOP_WAIT_SECONDS
        while time.monotonic() < deadline and len(self.reports) < len(self.remotes):
            try:
                self._poll()
            except InstanceLost:
                break
            time.sleep(_POLL_SECONDS)

    def results_dirs(self, scratch: Path) -> list[Path]:
        """Each instance's uploaded results, unpacked under ``scratch`` and removed from
        their staging place (an instance that uploaded none contributes an empty
        directory)."""
        dirs: list[Path] = []
        for host in self._hosts():
            target = scratch / f".results-{host}"
            target.mkdir(parents=True, exist_ok=True)
            archive = scratch / f".results-{host}.tar.gz"
            bucket, key = parse_s3_uri(self._staged_results_uri(host))
            try:
                self.context.objects.get_to_file(bucket, key, archive)
                self.context.objects.delete(bucket, key)  # staged only until packed
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

    def _clean_up(self) -> None:
        """Give back the reservation and remove the staged results (the job has ended,
        or another scheduler holds it: then only what is in this process)."""
        if not self.holds_claim() and not self._ended():
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
        scratch = self.context.settings.jobs_dir / self.job.job_id
        for host in self._hosts():
            target = scratch / f".results-{host}"
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)

    def _ended(self) -> bool:
        current = self.context.store.get_job(self.job.job_arn)
        return current is None or current.is_terminal
