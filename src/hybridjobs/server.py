"""Compose the service from Settings and run it: store, job service, AWS surfaces, scheduler."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from hybridjobs.api import Accounts, HybridJobsApp
from hybridjobs.devices.catalog import CatalogError, DeviceCatalog, load_catalog
from hybridjobs.devices.service import DeviceService
from hybridjobs.engines.base import EngineRequest
from hybridjobs.http.limits import RequestLimits
from hybridjobs.http.protocol import guarded_protocol
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.instance_types import load_instance_types
from hybridjobs.jobs.model import JobStatus
from hybridjobs.jobs.service import JobLimits, JobService
from hybridjobs.objects import LocalObjectStore, ObjectStore, parse_s3_uri
from hybridjobs.runners.cluster import ClusterRunner
from hybridjobs.runners.local import ColdLauncher
from hybridjobs.runners.warmlauncher import WarmLauncher
from hybridjobs.runners.warmpool import WarmPool
from hybridjobs.scheduler.context import SchedulerContext
from hybridjobs.scheduler.loop import Scheduler
from hybridjobs.scheduler.taskworkers import PoolConfig, TaskWorkerPool
from hybridjobs.services.base import AwsService
from hybridjobs.services.braket import BraketService
from hybridjobs.services.ecr import EcrService, InterpreterVersions
from hybridjobs.services.iam import IamService
from hybridjobs.services.logs import LogsService
from hybridjobs.services.s3 import S3Service
from hybridjobs.services.sts import StsService
from hybridjobs.settings import Settings
from hybridjobs.store.notify import JobNotificationListener
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.tasks.service import NoTaskRunner, TaskLimits, TaskRunner, TaskService
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
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    def start_background(self) -> None:
        for hook in self.on_start:
            hook()

    def stop_background(self) -> None:
        for hook in reversed(self.on_stop):
            hook()


def capacity_of(settings: Settings) -> Capacity:
    return Capacity(settings.capacity_vcpus, settings.capacity_memory_gib, settings.capacity_gpus)


def build_service(settings: Settings) -> Service:
    """Open the store (migrating it) and wire the AWS surfaces to the domain."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlJobStore(settings.resolved_db_url)
    cluster = open_cluster(settings)
    limits = job_limits(settings, cluster)
    objects = open_objects(settings)
    catalog = device_catalog(settings)
    configure_engines(settings)
    scheduler = None
    runner: TaskRunner = NoTaskRunner()
    if settings.run_scheduler:
        scheduler, pool = build_scheduler(settings, store, limits, catalog, cluster)
        runner = pool
    tasks = task_service(settings, store, catalog, runner, objects)
    jobs = JobService(
        store,
        limits,
        wake_scheduler=scheduler.wake if scheduler else _no_wake,
        device_exists=lambda arn: arn in catalog,
    )
    devices = DeviceService(catalog, store.task_queue_sizes, store.queued_jobs_by_device)
    services: dict[str, AwsService] = {"braket": BraketService(jobs, tasks, devices)}
    services["logs"] = LogsService(store)
    services["s3"] = S3Service(objects, store)
    services["sts"] = StsService()
    services["iam"] = IamService()
    interpreters = InterpreterVersions(settings.python_executable, settings.image_interpreters)
    services["ecr"] = EcrService(interpreters.for_image)
    accounts = Accounts(
        default_account=settings.account_id,
        secrets=dict(settings.credentials),
        key_accounts={key: settings.account_id for key in settings.credentials},
    )
    app = HybridJobsApp(
        services,
        accounts,
        default_region=settings.default_region,
        limits=RequestLimits.from_settings(settings),
    )
    app.extra_routes[STATUS_PATH] = _status_route(scheduler)
    service = Service(settings=settings, store=store, jobs=jobs, app=app, scheduler=scheduler)
    service.on_stop.append(store.close)
    if scheduler is not None:
        service.on_start.append(scheduler.start)
        service.on_stop.append(scheduler.stop)
    if settings.task_workers_prestart:
        service.on_start.append(lambda: _warm_task_validation(catalog))
    return service


SV1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"


def _warm_task_validation(catalog: DeviceCatalog) -> None:
    """Load the task validator's parsers in the background, so the first CreateQuantumTask
    does not pay for the imports (about a second)."""
    bell = (
        '{"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}, '
        '"source": "OPENQASM 3.0;\\nqubit[2] q;\\nh q[0];\\ncnot q[0], q[1];\\n'
        '#pragma braket result probability", "inputs": {}}'
    )
    sv1 = catalog.get(SV1_ARN)
    if sv1 is None:
        return
    request = EngineRequest(
        "warm-up", sv1.arn, sv1.engine, bell, shots=0, device_capabilities=sv1.capabilities_json
    )

    def warm() -> None:
        try:
            _validate_task(request)
        except Exception:
            log.exception("warming up the task validator failed")

    threading.Thread(target=warm, name="task-validator-warm-up", daemon=True).start()


def job_limits(settings: Settings, cluster: ClusterRunner | None = None) -> JobLimits:
    """Per-job limits; the capacity is the Ray cluster's when jobs run there."""
    return JobLimits(
        max_instances_per_job=settings.max_instances_per_job,
        instance_types=load_instance_types(settings.instance_types_file),
        capacity=cluster.capacity() if cluster is not None else capacity_of(settings),
        largest_machine=cluster.largest_machine() if cluster is not None else None,
    )


def open_cluster(settings: Settings) -> ClusterRunner | None:
    """The Ray runner when ``settings.runner`` is ``ray`` (connected to the cluster), else
    ``None``: instances are local processes."""
    if settings.runner != "ray":
        return None
    try:
        from hybridjobs.runners.rayrunner import RayRunner
    except ImportError as error:
        raise SystemExit(
            f"--runner ray needs Ray ({error}); install it with: pip install 'hybridjobs[ray]'"
        ) from None
    return RayRunner(settings.ray_address)


class _ClusterConnection:
    """Closes the connection to the cluster when the scheduler stops."""

    def __init__(self, cluster: ClusterRunner) -> None:
        self.cluster = cluster

    def start(self) -> None:
        """Connected already (the runner connects when it is made)."""

    def stop(self) -> None:
        self.cluster.close()


def configure_engines(settings: Settings) -> None:
    """This process's engine limits (the API validates tasks with them)."""
    from hybridjobs.engines import EngineConfig, configure

    configure(
        EngineConfig(
            max_task_memory_bytes=int(settings.task_memory_gib * 2**30),
            lightning_min_qubits=settings.lightning_min_qubits,
        )
    )


def device_catalog(settings: Settings) -> DeviceCatalog:
    """The built-in simulators and emulated devices plus the operator's directory."""
    extra = [settings.devices_dir] if settings.devices_dir is not None else []
    return load_catalog(int(settings.task_memory_gib * 2**30), extra)


def task_service(
    settings: Settings,
    store: SqlJobStore,
    catalog: DeviceCatalog,
    runner: TaskRunner,
    objects: ObjectStore,
) -> TaskService:
    return TaskService(
        store,
        catalog,
        runner,
        objects.bucket_exists,
        _validate_task,
        TaskLimits(settle_seconds=settings.task_settle_seconds),
    )


def _validate_task(request: EngineRequest) -> None:
    """The engine's own checks of a task (imported on first use: it loads the parsers)."""
    from hybridjobs.engines import validate_request

    validate_request(request)


def _no_wake() -> None:
    """Without an in-process scheduler, a separate one polls the database."""


def open_objects(settings: Settings) -> ObjectStore:
    """The object store: every bucket under one prefix of one real bucket with
    ``settings.objects`` (``s3://BUCKET/PREFIX``); else one real bucket per bucket when
    an S3 endpoint is configured; else DATA_DIR/objects."""
    if not settings.objects and not settings.s3_endpoint_url:
        return LocalObjectStore(settings.objects_dir)
    from hybridjobs.objects.s3 import S3ObjectStore

    s3 = S3ObjectStore(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
    )
    if not settings.objects:
        return s3
    from hybridjobs.objects.prefixed import PrefixedObjectStore

    bucket, prefix = parse_s3_uri(settings.objects)
    return PrefixedObjectStore(s3, bucket, prefix)


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
    objects = open_objects(settings)
    cold = ColdLauncher(settings.python_executable)
    pool = _warm_pool(settings) if cluster is None else None
    context = SchedulerContext(
        settings=settings,
        store=store,
        objects=objects,
        instance_types=limits.instance_types,
        launcher=WarmLauncher(pool, cold) if pool is not None else cold,
    )
    scheduler = Scheduler(context, limits.capacity, cluster)
    if cluster is not None:
        scheduler.companions.append(_ClusterConnection(cluster))
    if pool is not None:
        pool.on_exit = scheduler.instance_exited  # its supervisor looks at once
        scheduler.companions.append(pool)
    task_pool = TaskWorkerPool(
        PoolConfig(
            workers=settings.task_workers,
            memory_budget_bytes=int(settings.task_memory_gib * 2**30),
            poll_seconds=settings.scheduler_poll_seconds,
            python=settings.python_executable,
            lightning_min_qubits=settings.lightning_min_qubits,
            prestart=settings.task_workers_prestart,
        ),
        store,
        objects,
        catalog,
        owner=context.owner,
    )
    scheduler.companions.append(task_pool)
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


def _warm_pool(settings: Settings) -> WarmPool | None:
    """The warm pool of zygotes of the service's interpreter, unless disabled."""
    if not settings.warm_pool or settings.warm_pool_size <= 0:
        return None
    return WarmPool(
        settings.python_executable,
        settings.warm_pool_size,
        settings.warm_pool_preload,
        settings.data_dir / "warm-pool",
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
        body = {
            "scheduler": scheduler is not None,
            "running_jobs": len(scheduler.running_jobs()) if scheduler is not None else 0,
            "warm_pool": launcher.status()
            if isinstance(launcher, WarmLauncher)
            else {"enabled": False},
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
    if not is_loopback(settings.host) and not settings.credentials:
        raise SystemExit(
            f"Refusing to listen on {settings.host}: the service runs the code it is given, so "
            "listening beyond loopback needs access keys (set HYBRIDJOBS_CREDENTIALS to a JSON "
            'object such as {"AKID": "secret"}).'
        )
    try:
        service = build_service(settings)
    except CatalogError as error:
        raise SystemExit(f"hybridjobs cannot serve the device catalog: {error}") from None
    config = uvicorn.Config(
        service.app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=guarded_protocol(service.app.limits),
    )
    server = uvicorn.Server(config)
    announce(f"hybridjobs listening on {settings.endpoint_url}")
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
        service.stop_background()
        announce("hybridjobs stopped")


def _shutdown_signalled(signum: int, frame: object) -> None:
    """Receives the signal uvicorn re-raises after its shutdown; ``serve`` stops next."""


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
