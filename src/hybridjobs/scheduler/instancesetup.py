"""The set-up step of a :class:`~hybridjobs.scheduler.supervisor.JobSupervisor`: what each
instance of the job is launched with, and where its files and log lines are.

:class:`InstanceSetup` is a base class of the supervisor: ``_layout`` fills
``launches`` (one :class:`~hybridjobs.runners.contract.InstanceLaunch` per host, with the
image's environment and GPUs from the context's placer), ``launcher`` (the context's, or a
:class:`~hybridjobs.runners.containerlauncher.ContainerLauncher` when the image runs as a
real container), ``paths``, ``limits`` and ``tails``. The other attributes below are the
supervisor's, set by its ``__init__``.
"""

from __future__ import annotations

import threading
import time

from hybridjobs.environments.placement import Placement
from hybridjobs.jobs.model import Job, JobEventType, JobStatus
from hybridjobs.logtail import LogTail
from hybridjobs.runners import contract
from hybridjobs.runners.containerlauncher import ContainerLauncher
from hybridjobs.scheduler.context import Launcher, SchedulerContext
from hybridjobs.scheduler.launchplan import (
    free_port,
    interpreter,
    job_credentials,
    requirements_cache,
)
from hybridjobs.scheduler.limitwatch import LimitWatch

SETUP_STATUS_SECONDS = 2.0
"""How often a long set-up looks up the job's status without being woken."""


class InstanceSetup:
    """The supervisor's set-up step (see the module docstring)."""

    context: SchedulerContext
    job: Job
    attach: bool
    launches: list[contract.InstanceLaunch]
    launcher: Launcher
    paths: list[contract.InstancePaths]
    limits: LimitWatch
    tails: list[LogTail]
    wake: threading.Event
    _next_setup_check: float = 0.0

    def _hosts(self) -> list[str]:
        raise NotImplementedError

    def _event(self, event_type: JobEventType, message: str) -> None:
        raise NotImplementedError

    def _launches(self) -> list[contract.InstanceLaunch]:
        settings = self.context.settings
        resources = self.context.instance_types[self.job.instance_type]
        state = self.job.runner_state
        master_port = int(state.get("master_port") or free_port())
        state["master_port"] = master_port
        image = (self.job.definition["algorithmSpecification"].get("containerImage") or {}).get(
            "uri"
        )
        placement = self._placement(image, resources.gpus)
        python = (
            placement.python
            if placement is not None
            else interpreter(settings.image_interpreters.get(image or ""), settings)
        )
        self.launcher = self.context.launcher
        cache_key = python
        if placement is not None and placement.container_runtime is not None:
            environment = placement.environment
            self.launcher = ContainerLauncher(placement.container_runtime, environment.image)
            cache_key = f"container {placement.container_runtime} {environment.image}"
        credentials = job_credentials(self.context.store, self.job)
        return [
            contract.InstanceLaunch(
                job_arn=self.job.job_arn,
                job_name=self.job.job_name,
                job_id=self.job.job_id,
                request=self.job.definition,
                host_index=index,
                hosts=self._hosts(),
                job_dir=settings.jobs_dir / self.job.job_id,
                region=self.job.region,
                endpoint_url=settings.endpoint_url,
                access_key_id=credentials.access_key_id,
                secret_access_key=credentials.secret_access_key,
                session_token=credentials.session_token,
                ca_bundle=str(settings.tls_cert or ""),
                master_port=master_port,
                python=python,
                instance_resources=(int(resources.vcpus), resources.memory_gib, resources.gpus),
                job_token=self.job.job_token or self.job.job_id,
                objects=self._objects_for_jobs(),
                requirements_cache_dir=requirements_cache(settings.data_dir, cache_key),
                archive_limits=settings.archive_limits,
                visible_gpus=placement.visible_gpus[index - 1] if placement else None,
                gpu_twins=placement is not None and placement.twins,
            )
            for index in range(1, self.job.instance_count + 1)
        ]

    def _placement(self, image: str | None, gpus: int) -> Placement | None:
        """The image's environment (built on first use) and the instances' GPUs, from the
        context's placer (``None`` without one: the configured interpreters, no GPUs)."""
        placer = self.context.placer
        if placer is None:
            return None

        def say(message: str) -> None:
            self._event(JobEventType.STARTING_INSTANCE, message)

        placement = placer.place(
            self.job.job_arn,
            image,
            self._hosts(),
            gpus,
            self.job.instance_type,
            say,
            self._setup_given_up,
        )
        if not self.attach:
            for note in placement.notes:
                say(note)
        return placement

    def _setup_given_up(self) -> bool:
        """Whether the set-up (an environment build) should stop: the service is stopping,
        or the job was cancelled (looked up when the supervisor is woken, as a cancel
        does, and at least every :data:`SETUP_STATUS_SECONDS`)."""
        if self.context.stopping.is_set():
            return True
        now = time.monotonic()
        if not self.wake.is_set() and now < self._next_setup_check:
            return False
        self.wake.clear()
        self._next_setup_check = now + SETUP_STATUS_SECONDS
        current = self.context.store.get_job(self.job.job_arn)
        return current is None or current.status is JobStatus.CANCELLING

    def _objects_for_jobs(self) -> dict[str, str]:
        """How an instance fetches its script: the local directory directly, or else
        through this service's S3 surface with the job's own credentials."""
        config = self.context.objects.config()
        if config.get("kind") == "local" and not self.launcher.isolates:
            return config  # a sandboxed instance sees no object directory
        return {
            "kind": "s3",
            "endpoint_url": self.context.settings.endpoint_url,
            "region": self.job.region,
        }

    def _layout(self) -> None:
        self.launches = self._launches()
        self.paths = [contract.instance_paths(launch) for launch in self.launches]
        volume = (self.job.definition.get("instanceConfig") or {}).get("volumeSizeInGb")
        self.limits = LimitWatch(self.launches, self.paths, int(volume) if volume else None)
        # Where the stored lines end (recorded with them); older jobs kept it in their
        # runner state.
        offsets = {
            **self.job.runner_state.get("log_offsets", {}),
            **self.context.store.log_file_offsets(self.job.job_arn),
        }
        self.tails = [
            LogTail(launch.current_host, paths.log_file, int(offsets.get(launch.current_host, 0)))
            for launch, paths in zip(self.launches, self.paths, strict=True)
        ]
