"""Compose the service from Settings and run it: store, job service, AWS surfaces, scheduler.

The parts it is composed from (limits, cluster, device catalog, task service, object
store) are built by :mod:`hybridjobs.serviceparts`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from hybridjobs.accounts.setup import key_ring, quotas, rate_limiter
from hybridjobs.api import HybridJobsApp
from hybridjobs.console.mount import console_for
from hybridjobs.devices.catalog import CatalogError, DeviceCatalog
from hybridjobs.devices.service import DeviceService
from hybridjobs.environments.placement import InstancePlacer, image_catalog
from hybridjobs.environments.pools import EnvironmentPools
from hybridjobs.gpus import host_gpus
from hybridjobs.http.limits import RequestLimits
from hybridjobs.http.protocol import guarded_protocol
from hybridjobs.jobs.model import JobStatus
from hybridjobs.jobs.service import JobLimits, JobService
from hybridjobs.observability.collector import ServiceCollector
from hybridjobs.observability.endpoint import METRICS_PATH, answer_observer, metrics_route
from hybridjobs.observability.metrics import instrument_engine
from hybridjobs.retention import Sweeper, SweeperThread
from hybridjobs.runners.boxedzygote import BoxedZygotes
from hybridjobs.runners.cluster import ClusterRunner
from hybridjobs.runners.local import ColdLauncher, use_package_path
from hybridjobs.runners.warmlauncher import WarmLauncher
from hybridjobs.runners.warmpool import WarmPool
from hybridjobs.sandbox.select import Confinement, SandboxUnavailable
from hybridjobs.sandbox.setup import confinement_for
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.scheduler.launchplan import requirements_cache
from hybridjobs.scheduler.loop import Scheduler
from hybridjobs.scheduler.taskworkers import PoolConfig, TaskWorkerPool
from hybridjobs.serviceparts import (
    _bucket_owner,
    _no_wake,
    _warm_task_validation,
    configure_engines,
    device_catalog,
    job_limits,
    open_cluster,
    task_service,
    timed_objects,
)
from hybridjobs.serviceparts import open_objects as open_objects
from hybridjobs.services.base import AwsService
from hybridjobs.services.braket import BraketService
from hybridjobs.services.ecr import EcrService, InterpreterVersions
from hybridjobs.services.iam import IamService
from hybridjobs.services.logs import LogsService
from hybridjobs.services.s3 import S3Service
from hybridjobs.services.s3_access import BucketOwners
from hybridjobs.services.sts import StsService
from hybridjobs.services.usage import budget_stops, install_usage
from hybridjobs.settings import Settings
from hybridjobs.shutdown import DrainingServer, bounded
from hybridjobs.store.notify import JobNotificationListener
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.tasks.service import NoTaskRunner, TaskRunner
from hybridjobs.wire.messages import WireRequest, WireResponse

log = logging.getLogger(__name__)

STATUS_PATH = "/_hybridjobs/status"


@dataclass
class Service:
    """Everything one running hybridjobs service is made of."""

    settings: Settings
    store: SqlJobStore
    jobs: JobService
    app: HybridJobsApp
    scheduler: Scheduler | None = None
    on_start: list[Callable[[], None]] = field(default_factory=list)
    on_drain: list[Callable[[], None]] = field(default_factory=list)
    """Stopped first, while the API still answers (the scheduler)."""
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    _drained: threading.Event = field(default_factory=threading.Event)

    def start_background(self) -> None:
        for hook in self.on_start:
            hook()

    def drain(self) -> None:
        """Run the ``on_drain`` hooks (once, however often it is called)."""
        if self._drained.is_set():
            return
        self._drained.set()
        for hook in reversed(self.on_drain):
            hook()

    def stop_background(self, timeout: float | None = None) -> None:
        """Drain (if not yet), then run the ``on_stop`` hooks; each step bounded by
        ``timeout`` seconds when given."""
        steps = [("scheduler", self.drain)] + [
            (getattr(hook, "__qualname__", "stop"), hook) for hook in reversed(self.on_stop)
        ]
        for name, step in steps:
            if timeout is None:
                step()
            else:
                bounded(step, timeout, name)


def build_service(settings: Settings) -> Service:
    """Open the store (migrating it) and wire the AWS surfaces to the domain."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlJobStore(settings.resolved_db_url)
    if settings.metrics:
        instrument_engine(store.engine)
    cluster = open_cluster(settings)
    limits = job_limits(settings, cluster)
    objects = timed_objects(settings)
    catalog = device_catalog(settings)
    configure_engines(settings)
    scheduler = None
    runner: TaskRunner = NoTaskRunner()
    if settings.run_scheduler:
        scheduler, pool = build_scheduler(settings, store, limits, catalog, cluster)
        runner = pool
    keyring = key_ring(settings, store)
    owners = BucketOwners(store, settings.account_id) if keyring.verifying else None
    account_quotas = quotas(settings, store)
    bucket_owner = _bucket_owner(owners, objects)
    tasks = task_service(settings, store, catalog, runner, objects, account_quotas, bucket_owner)
    jobs = JobService(
        store,
        limits,
        wake_scheduler=scheduler.wake if scheduler else _no_wake,
        device_exists=lambda arn: arn in catalog,
        quotas=account_quotas,
        bucket_owner=bucket_owner,
    )
    devices = DeviceService(catalog, store.task_queue_sizes, store.queued_jobs_by_device)
    services: dict[str, AwsService] = {"braket": BraketService(jobs, tasks, devices)}
    services["logs"] = LogsService(store)
    services["s3"] = S3Service(objects, store, owners)
    services["sts"] = StsService()
    services["iam"] = IamService()
    interpreters = InterpreterVersions(settings.python_executable, settings.image_interpreters)
    services["ecr"] = EcrService(interpreters.for_image)
    app = HybridJobsApp(
        services,
        keyring,
        default_region=settings.default_region,
        limits=RequestLimits.from_settings(settings),
    )
    app.rate_limiter = rate_limiter(settings)
    app.extra_routes[STATUS_PATH] = _status_route(scheduler)
    usage = install_usage(settings, store, catalog, limits.instance_types, services["braket"], app)
    if settings.metrics:
        app.extra_routes[METRICS_PATH] = metrics_route(
            _collector(store, scheduler, settings.data_dir), usage.collector()
        )
        if settings.metrics_unsigned:
            app.public_routes.add(METRICS_PATH)
    app.on_answer = answer_observer(settings.metrics, settings.access_log)
    app.console = console_for(
        jobs=jobs,
        tasks=tasks,
        devices=devices,
        store=store,
        objects=objects,
        accounts=lambda: app.accounts,
        default_region=settings.default_region,
        data_dir=settings.data_dir,
        on_answer=lambda: app.on_answer,
        rate_limiter=lambda: app.rate_limiter,
    )
    service = Service(settings=settings, store=store, jobs=jobs, app=app, scheduler=scheduler)
    service.on_stop.append(store.close)
    if scheduler is not None:
        service.on_start.append(scheduler.start)
        service.on_drain.append(lambda: scheduler.stop(settings.shutdown_timeout_seconds))
    if settings.task_workers_prestart:
        service.on_start.append(lambda: _warm_task_validation(catalog))
    return service


class _ClusterConnection:
    """Closes the connection to the cluster when the scheduler stops."""

    def __init__(self, cluster: ClusterRunner) -> None:
        self.cluster = cluster

    def start(self) -> None:
        """Connected already (the runner connects when it is made)."""

    def stop(self) -> None:
        self.cluster.close()


def build_scheduler(
    settings: Settings,
    store: SqlJobStore,
    limits: JobLimits,
    catalog: DeviceCatalog,
    cluster: ClusterRunner | None = None,
) -> tuple[Scheduler, TaskWorkerPool]:
    """A scheduler over ``store`` with this service's capacity and launcher, and the pool
    that runs quantum tasks next to it (a companion of the scheduler). A job that ends
    FAILED or CANCELLED has its unfinished tasks cancelled."""
    objects = timed_objects(settings)
    confinement = confinement_for(settings) if cluster is None else None
    use_package_path(settings.data_dir)  # what image environments find hybridjobs in
    cold = ColdLauncher(settings.python_executable, confinement=confinement)
    pool = _warm_pool(settings, confinement) if cluster is None else None
    # One zygote per image environment in use (the first instance starts it, cold).
    env_pools = (
        EnvironmentPools(
            1, settings.warm_pool_preload, settings.data_dir / "warm-pool" / "env", pool.in_place
        )
        if pool is not None
        else None
    )
    context = SchedulerContext(
        settings=settings,
        store=store,
        objects=objects,
        instance_types=limits.instance_types,
        launcher=WarmLauncher(pool, cold, env_pools) if pool is not None else cold,
        detach_on_stop=not settings.stop_jobs_on_exit,
    )
    context.stop_checks.append(budget_stops(settings, store, limits.instance_types))
    if cluster is None:
        placer = InstancePlacer(settings, image_catalog(settings), host_gpus())
        context.placer = placer
        context.job_ended.append(lambda job_arn, _status: placer.release(job_arn))
    scheduler = Scheduler(context, limits.capacity, cluster)
    if cluster is not None:
        scheduler.companions.append(_ClusterConnection(cluster))
    if pool is not None:
        pool.on_exit = scheduler.instance_exited  # its supervisor looks at once
        scheduler.companions.append(pool)
    if env_pools is not None:
        env_pools.on_exit = scheduler.instance_exited
        scheduler.companions.append(env_pools)
    task_pool = TaskWorkerPool(
        PoolConfig(
            workers=settings.task_workers,
            memory_budget_bytes=int(settings.task_memory_gib * 2**30),
            poll_seconds=settings.scheduler_poll_seconds,
            python=settings.python_executable,
            lightning_min_qubits=settings.lightning_min_qubits,
            prestart=settings.task_workers_prestart,
            warm=settings.task_workers_warm,
            idle_seconds=settings.task_workers_idle_seconds,
        ),
        store,
        objects,
        catalog,
        owner=context.owner,
    )
    scheduler.companions.append(task_pool)
    sweeper = Sweeper(settings, store.engine, objects)
    scheduler.companions.append(SweeperThread(sweeper, settings.retention_sweep_seconds))
    if store.dialect == "postgresql":

        def wake_all() -> None:
            scheduler.wake()
            task_pool.wake()

        scheduler.companions.append(JobNotificationListener(store.url, wake_all))
    tasks = task_service(settings, store, catalog, task_pool, objects)

    def cancel_tasks(job_arn: str, status: JobStatus) -> None:
        if status in (JobStatus.FAILED, JobStatus.CANCELLED):
            tasks.cancel_tasks_of_job(job_arn)

    context.job_ended.append(cancel_tasks)
    return scheduler, task_pool


def _warm_pool(settings: Settings, confinement: Confinement | None) -> WarmPool | None:
    """The warm pool of zygotes of the service's interpreter, unless disabled. When
    instances run in an isolating sandbox, forked instances make it themselves where they
    can (see :mod:`hybridjobs.sandbox.inplace`), else come from sandboxed one-shot zygotes."""
    if not settings.warm_pool or settings.warm_pool_size <= 0:
        return None
    in_place = confinement if confinement is not None and confinement.in_place else None
    boxed = None
    if confinement is not None and confinement.sandbox.isolates and in_place is None:
        cache = requirements_cache(settings.data_dir, settings.python_executable)
        boxed = BoxedZygotes(confinement, settings.data_dir / "warm-pool" / "slots", cache)
    return WarmPool(
        settings.python_executable,
        settings.warm_pool_size,
        settings.warm_pool_preload,
        settings.data_dir / "warm-pool",
        boxed=boxed,
        in_place=in_place,
    )


def _collector(store: SqlJobStore, scheduler: Scheduler | None, data_dir: Path) -> ServiceCollector:
    """What ``/metrics`` reads of this service's state at each scrape."""

    def warm_status() -> dict[str, Any] | None:
        launcher = scheduler.context.launcher if scheduler is not None else None
        return launcher.status() if isinstance(launcher, WarmLauncher) else None

    return ServiceCollector(
        store.engine,
        scheduler.running_instances if scheduler is not None else lambda: 0,
        warm_status,
        data_dir,
    )


def _status_route(scheduler: Scheduler | None) -> Callable[[WireRequest], WireResponse]:
    """``GET /_hybridjobs/status``: the scheduler's running jobs and the warm pool (zygote
    pids, counters). ``?wait=SECONDS`` first waits (at most 300 s) until the pool is full."""

    def status(request: WireRequest) -> WireResponse:
        launcher = scheduler.context.launcher if scheduler is not None else None
        pool = launcher.pool if isinstance(launcher, WarmLauncher) else None
        wait = (request.query.get("wait") or ["0"])[0]
        if pool is not None and wait:
            with contextlib.suppress(ValueError):
                pool.wait_ready(min(max(float(wait), 0.0), 300.0))
        # The Ray runner's node pools (runners/raypool.py) stand for the warm pool there.
        cluster_warm = getattr(scheduler.cluster if scheduler else None, "warm_status", None)
        warm_pool: dict[str, Any] = {"enabled": False}
        if isinstance(launcher, WarmLauncher):
            warm_pool = launcher.status()
        elif cluster_warm is not None:
            with contextlib.suppress(ValueError):
                warm_pool = cluster_warm(min(max(float(wait), 0.0), 300.0))
        body = {
            "scheduler": scheduler is not None,
            "running_jobs": len(scheduler.running_jobs()) if scheduler is not None else 0,
            "warm_pool": warm_pool,
        }
        return WireResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    return status


def build_scheduler_only(settings: Settings) -> tuple[Scheduler, Callable[[], None]]:
    """A scheduler on its own (``hybridjobs scheduler``) and the function that closes it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlJobStore(settings.resolved_db_url)
    try:
        catalog = device_catalog(settings)
    except CatalogError as error:
        store.close()
        raise SystemExit(f"hybridjobs cannot serve the device catalog: {error}") from None
    cluster = open_cluster(settings)
    limits = job_limits(settings, cluster)
    scheduler, _pool = build_scheduler(settings, store, limits, catalog, cluster)
    return scheduler, store.close


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, announce: Callable[[str], None] = print) -> None:
    """Run the service until SIGINT or SIGTERM, then stop everything it started."""
    if not is_loopback(settings.host) and not (settings.credentials or settings.credentials_file):
        raise SystemExit(
            f"Refusing to listen on {settings.host}: the service runs the code it is given, so "
            "listening beyond loopback needs access keys (--credentials-file FILE, or "
            'HYBRIDJOBS_CREDENTIALS set to a JSON object such as {"AKID": "secret"}).'
        )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SystemExit("TLS needs both --tls-cert and --tls-key.")
    try:
        service = build_service(settings)
    except CatalogError as error:
        raise SystemExit(f"hybridjobs cannot serve the device catalog: {error}") from None
    except SandboxUnavailable as error:
        raise SystemExit(f"hybridjobs will not start: {error}") from None
    config = uvicorn.Config(
        service.app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through the service log (text or JSON)
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=guarded_protocol(service.app.limits),
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    server = DrainingServer(config, service.drain, settings.shutdown_timeout_seconds)
    announce(f"hybridjobs listening on {settings.endpoint_url}")
    announce(f"web console: {settings.endpoint_url.rstrip('/')}/console/")
    announce(f"data directory: {settings.data_dir}")
    announce(f"database: {_redact(settings.resolved_db_url)}")
    if settings.objects:
        announce(f"objects: {settings.objects}")
    service.start_background()
    # uvicorn re-raises the SIGINT/SIGTERM it shut down for once it returns; with the default
    # handlers that would kill this process before the scheduler stops the jobs' instances.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _shutdown_signalled)
    try:
        server.run()
    finally:
        service.stop_background(settings.shutdown_timeout_seconds)
        announce("hybridjobs stopped")


def _shutdown_signalled(signum: int, frame: object) -> None:
    """Receives the signal uvicorn re-raises after its shutdown; ``serve`` stops next."""


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
