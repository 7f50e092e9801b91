"""The parts the service (:func:`hybridjobs.server.build_service`) and a stand-alone
scheduler (:func:`hybridjobs.server.build_scheduler_only`) are built from.

* the jobs' limits and capacity (:func:`job_limits`, :func:`capacity_of`) and the Ray
  runner when jobs run on a cluster (:func:`open_cluster`);
* the device catalog and this process's engine limits (:func:`device_catalog`,
  :func:`configure_engines`);
* the quantum-task service and its validation (:func:`task_service`);
* the object store (:func:`open_objects`, :func:`timed_objects`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hybridjobs.accounts.quotas import Quotas
from hybridjobs.devices.catalog import DeviceCatalog, load_catalog
from hybridjobs.engines.base import EngineRequest
from hybridjobs.environments.placement import gpu_capacity, image_catalog
from hybridjobs.gpus import host_gpus
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.instance_types import load_instance_types
from hybridjobs.jobs.service import JobLimits
from hybridjobs.objects import LocalObjectStore, ObjectStore, parse_s3_uri
from hybridjobs.observability.timedobjects import TimedObjectStore
from hybridjobs.runners.cluster import ClusterRunner
from hybridjobs.sandbox.setup import policy_for
from hybridjobs.services.s3_access import BucketOwners
from hybridjobs.settings import Settings
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.tasks.service import TaskLimits, TaskRunner, TaskService

log = logging.getLogger("hybridjobs.server")  # the service log's name for these lines


def capacity_of(settings: Settings) -> Capacity:
    """The service's capacity; GPUs: the setting, else the host's (see gpu_capacity)."""
    gpus = gpu_capacity(settings, host_gpus())
    return Capacity(settings.capacity_vcpus, settings.capacity_memory_gib, gpus)


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
        image_problem=image_catalog(settings).problem,
    )


def open_cluster(settings: Settings) -> ClusterRunner | None:
    """The Ray runner when ``settings.runner`` is ``ray`` (connected to the cluster), else
    ``None``: instances are local processes."""
    if settings.runner != "ray":
        return None
    try:
        from hybridjobs.runners.raynode import NodeRetention
        from hybridjobs.runners.rayrunner import RayRunner
    except ImportError as error:
        raise SystemExit(
            f"--runner ray needs Ray ({error}); install it with: pip install 'hybridjobs[ray]'"
        ) from None
    return RayRunner(
        settings.ray_address,
        warm_pool_size=settings.warm_pool_size if settings.warm_pool else 0,
        preload=settings.warm_pool_preload,
        sandbox=policy_for(settings),
        gpu_cpu_twins=settings.gpu_cpu_twins,
        retention=NodeRetention(
            settings.retention_requirements_days, settings.retention_sweep_seconds
        ),
    )


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
    account_quotas: Quotas | None = None,
    bucket_owner: Callable[[str], str | None] | None = None,
) -> TaskService:
    return TaskService(
        store,
        catalog,
        runner,
        objects.bucket_exists,
        _validate_task,
        TaskLimits(settle_seconds=settings.task_settle_seconds),
        quotas=account_quotas,
        bucket_owner=bucket_owner,
    )


def _bucket_owner(
    owners: BucketOwners | None, objects: ObjectStore
) -> Callable[[str], str | None] | None:
    """The owning account of an existing bucket (``None`` when it does not exist), or
    nothing when there is one account (no keys configured)."""
    if owners is None:
        return None

    def owner(bucket: str) -> str | None:
        return owners.owner(bucket) if objects.bucket_exists(bucket) else None

    return owner


def _validate_task(request: EngineRequest) -> None:
    """The engine's own checks of a task (imported on first use: it loads the parsers)."""
    from hybridjobs.engines import validate_request

    validate_request(request)


def _no_wake() -> None:
    """Without an in-process scheduler, a separate one polls the database."""


def timed_objects(settings: Settings) -> ObjectStore:
    """The service's object store, with every call timed for ``/metrics`` (unless metrics
    are off): the one seam where object-store latency is measured."""
    objects = open_objects(settings)
    return TimedObjectStore(objects) if settings.metrics else objects


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
