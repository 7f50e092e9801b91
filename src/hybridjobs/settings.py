"""One Settings object, built once at the edge (CLI or test) and passed down.

Every field can be set from the environment as ``HYBRIDJOBS_<FIELD>`` (for example
``HYBRIDJOBS_DB_URL``); CLI flags override the environment. Nothing below the edge reads
``os.environ`` (design principle 7), except ``runners/contract.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hybridjobs.objects.base import parse_s3_uri


def default_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/hybridjobs`` or ``~/.local/share/hybridjobs``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hybridjobs"


def _total_memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0


class Settings(BaseSettings):
    """Configuration of one hybridjobs service (API server and scheduler)."""

    model_config = SettingsConfigDict(env_prefix="HYBRIDJOBS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8750
    data_dir: Path = Field(default_factory=default_data_dir)
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file hybridjobs.db in the data directory.",
    )
    account_id: str = Field(default="000000000000", pattern=r"[0-9]{12}")
    default_region: str = "us-east-1"
    max_instances_per_job: int = Field(default=5, ge=1)

    # Object storage: the local directory DATA_DIR/objects unless S3 is given: every bucket
    # under one prefix of one real bucket (objects), or one real bucket per bucket.
    objects: str | None = Field(
        default=None,
        description="s3://BUCKET/PREFIX: keep every bucket and object of the service under "
        "PREFIX of that one real bucket (at s3_endpoint_url, with the s3_* credentials).",
    )
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    # Capacity of this service, in the units of the instance-type table. Local instances are
    # processes, not VMs, so the defaults oversubscribe the host: 5 vCPUs of instance per core
    # and twice the physical memory (enough for a 5 x ml.m5.large job on a 2-core machine).
    capacity_vcpus: float = Field(default_factory=lambda: 5.0 * (os.cpu_count() or 1))
    capacity_memory_gib: float = Field(default_factory=lambda: 2.0 * _total_memory_gib())
    capacity_gpus: int | None = Field(
        default=None,
        ge=0,
        description="GPUs instances may use (default: the GPUs found with NVML or nvidia-smi).",
    )
    gpu_cpu_twins: bool = Field(
        default=False,
        description="Run GPU instance types without GPUs: lightning.gpu becomes "
        "lightning.qubit and CUDA-Q's nvidia target qpp-cpu, announced in the job's events "
        "and log (for development machines).",
    )
    instance_types_file: Path | None = Field(
        default=None,
        description="JSON file overriding the instance-type table: {type: {vcpus, memory_gib, gpus}}.",
    )
    runner: Literal["local", "ray"] = Field(
        default="local",
        description="Where job instances run: local processes, or a Ray cluster.",
    )
    ray_address: str | None = Field(
        default=None,
        description="Address of the Ray cluster for --runner ray (default: RAY_ADDRESS, "
        "else a cluster started on this machine).",
    )
    run_scheduler: bool = True
    scheduler_poll_seconds: float = Field(default=1.0, gt=0)
    stop_grace_seconds: float = Field(default=30.0, ge=0)
    heartbeat_timeout_seconds: float = Field(default=30.0, gt=0)
    checkpoint_sync_seconds: float = Field(
        default=10.0, gt=0, description="How often running jobs' checkpoints are uploaded."
    )
    mpirun: str = Field(
        default="mpirun",
        description="The Open MPI launcher of MPI jobs (sagemaker_mpi_enabled): a command "
        "looked up on PATH, or a path.",
    )

    # Interpreters: the service's own by default; containerImage.uri -> python executable.
    python_executable: str = Field(default_factory=lambda: sys.executable)
    image_interpreters: dict[str, str] = Field(default_factory=dict)
    environments_dir: Path | None = Field(
        default=None,
        description="Where image environments are built and mapped (default: "
        "DATA_DIR/environments; see `hybridjobs images`).",
    )
    uv_cache_dir: Path | None = Field(
        default=None, description="uv's cache for environment builds (default: uv's own)."
    )

    # Warm instance pool (zygotes).
    warm_pool: bool = True
    warm_pool_size: int = Field(default=2, ge=0)
    warm_pool_preload: list[str] = Field(
        default_factory=lambda: [
            "numpy",
            "boto3",
            "braket.circuits",
            "braket.devices",
            "braket.jobs",
            "pennylane",
        ]
    )

    # Quantum tasks: worker processes, the memory their simulator state may use together
    # (it also sets the simulators' qubit limits), and the emulated-device catalog.
    task_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    task_memory_gib: float = Field(default_factory=lambda: 0.5 * _total_memory_gib(), gt=0)
    task_settle_seconds: float = Field(
        default=0.2,
        ge=0,
        description="How long GetQuantumTask may wait for a task about to finish.",
    )
    task_workers_prestart: bool = Field(
        default=True,
        description="Start the warm task workers and load the task validator with the "
        "service, not at the first task.",
    )
    task_workers_warm: int = Field(
        default=1,
        ge=0,
        description="Task workers kept started while the service is idle; more start while "
        "all are busy, up to task_workers, and stop again after task_workers_idle_seconds.",
    )
    task_workers_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a task worker beyond the warm ones may stay idle before it "
        "is stopped.",
    )
    lightning_min_qubits: int = Field(
        default=14, ge=0, description="State-vector tasks this wide run on lightning (0: never)."
    )
    devices_dir: Path | None = Field(
        default=None,
        description="Directory of device-properties JSON files (emulated QPUs) to serve.",
    )

    # Usage accounting (docs/accounting.md): prices and per-account job budgets.
    prices_file: Path | None = Field(
        default=None,
        description="JSON price table replacing or extending the default reference prices.",
    )
    job_budgets: dict[str, float] = Field(
        default_factory=dict,
        description='USD a month per account ("*": every other account); new jobs are '
        "refused once an account's jobs have cost that much this month.",
    )
    job_budgets_stop_running: bool = Field(
        default=False,
        description="Also stop an account's running jobs (FAILED, JobBudgetExceeded) once "
        "its job budget is spent.",
    )

    # Access keys; when set, SigV4 signatures are verified. Format (docs/security.md):
    # {access_key: secret} (default account) or {access_key: {"secret": .., "account": ..}}.
    credentials: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    credentials_file: Path | None = Field(
        default=None,
        description="JSON file of access keys, in the form of HYBRIDJOBS_CREDENTIALS "
        "(its keys are added to those).",
    )
    # Per-account quotas and request rates (docs/security.md); 0 means no limit.
    max_concurrent_jobs_per_account: int = Field(
        default=0, ge=0, description="Unfinished jobs one account may have (0: no limit)."
    )
    max_concurrent_instances_per_account: int = Field(
        default=0, ge=0, description="Instances of one account's unfinished jobs (0: no limit)."
    )
    max_queued_tasks_per_account: int = Field(
        default=0, ge=0, description="Queued quantum tasks of one account (0: no limit)."
    )
    request_rate_per_second: float = Field(
        default=0.0,
        ge=0,
        description="Requests per second per account and operation, refilled into a bucket "
        "of request_burst (0: no throttling).",
    )
    request_burst: float = Field(
        default=100.0, ge=1, description="Requests one account may make at once per operation."
    )
    # TLS: serve HTTPS with this certificate chain and key (PEM).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    # Request bounds (docs/security.md): bodies larger than these are refused before they
    # are read; slow clients are disconnected; signatures older or newer than the skew fail.
    max_api_body_bytes: int = Field(
        default=10 * 2**20,
        ge=0,
        description="Largest request body of an API call (every request but S3 object writes).",
    )
    max_object_body_bytes: int = Field(
        default=5 * 2**30,
        ge=0,
        description="Largest body of an S3 object write (PutObject, UploadPart), as sent.",
    )
    max_header_bytes: int = Field(
        default=64 * 2**10,
        ge=1024,
        description="Largest request line plus headers of one request.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a connection may take to send a request's line and headers.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a request body may go without sending another byte.",
    )
    clock_skew_seconds: float = Field(
        default=900.0,
        ge=0,
        description="How far a signed request's x-amz-date may be from the server's clock.",
    )

    # Operations (docs/operations.md): the service log, /metrics, shutdown.
    log_format: Literal["text", "json"] = Field(
        default="text", description="Format of the service log's lines: text or json."
    )
    access_log: bool = Field(default=True, description="Write one log line per API request.")
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at /metrics and time requests, database "
        "statements and object-store calls for them.",
    )
    metrics_unsigned: bool = Field(
        default=False,
        description="Serve /metrics without a signature even when access keys are "
        "configured (for scrapers that cannot sign; restrict who reaches the port).",
    )
    # The sandbox each local instance runs in (docs/security.md, "Sandbox").
    sandbox: Literal["auto", "bwrap", "none"] = Field(
        default="auto",
        description="Where instances run: bwrap (the bubblewrap sandbox, or refuse to "
        "start), none, or auto: the sandbox wherever it can run here.",
    )
    sandbox_warm_starts: Literal["auto", "in-place", "zygotes"] = Field(
        default="auto",
        description="How sandboxed instances start warm: in-place (a forked instance "
        "makes its sandbox itself, from reusable zygotes), zygotes (each zygote waits in "
        "a bubblewrap sandbox of its own and forks one instance: for hosts where a "
        "process may not make namespaces but bwrap may), or auto: in-place where it "
        "works here, else zygotes.",
    )
    allow_unsandboxed: bool | None = Field(
        default=None,
        description="Run jobs unsandboxed when the sandbox cannot run here (default: only "
        "on loopback without access keys).",
    )
    sandbox_pids_max: int = Field(
        default=4096, ge=16, description="Most processes and threads one instance may run."
    )
    stop_jobs_on_exit: bool = Field(
        default=False,
        description="On SIGTERM stop running jobs (they end FAILED, ServiceStopped) "
        "instead of leaving their instances running for the next start to re-attach.",
    )
    shutdown_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="The longest each shutdown step (scheduler, API, store) may take.",
    )

    # Disk (docs/operations.md): retention ages (0 keeps forever) and the free-space floor.
    retention_job_files_days: float = Field(
        default=7.0, ge=0, description="Days a finished job's local files are kept."
    )
    retention_logs_days: float = Field(
        default=30.0, ge=0, description="Days a finished job's log lines are kept."
    )
    retention_uploads_days: float = Field(
        default=7.0, ge=0, description="Days an abandoned multipart upload's parts are kept."
    )
    retention_requirements_days: float = Field(
        default=30.0,
        ge=0,
        description="Days a cached requirements.txt install is kept after its last use.",
    )
    retention_sweep_seconds: float = Field(
        default=3600.0, gt=0, description="How often the retention sweeper runs."
    )
    min_free_disk_gib: float = Field(
        default=1.0,
        ge=0,
        description="Jobs wait in the queue while the data directory has less free space.",
    )
    # Archive limits (docs/operations.md), carried to instances in their spec.
    archive_max_compressed_mib: float = Field(
        default=1024.0, gt=0, description="Largest job code archive (MiB, as uploaded)."
    )
    archive_max_members: int = Field(
        default=20_000, gt=0, description="Most files and directories in a code archive."
    )
    archive_max_expanded_mib: float = Field(
        default=4096.0, gt=0, description="Most MiB a code archive may expand to."
    )
    archive_max_expansion_ratio: float = Field(
        default=100.0,
        gt=0,
        description="Most a code archive may expand (times its size), past 64 MiB expanded.",
    )

    @field_validator("objects")
    @classmethod
    def _objects_location(cls, value: str | None) -> str | None:
        """``s3://BUCKET[/PREFIX]`` or nothing."""
        if not value:
            return None
        if not value.startswith("s3://"):
            raise ValueError(f"objects must be s3://BUCKET/PREFIX, got {value!r}")
        parse_s3_uri(value)
        return value

    @property
    def resolved_db_url(self) -> str:
        """The database URL in use: ``db_url`` or the SQLite file in the data directory."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'hybridjobs.db'}"

    @property
    def objects_dir(self) -> Path:
        """Root of the local object store: ``s3://BUCKET/KEY`` is ``objects_dir/BUCKET/KEY``."""
        return self.data_dir / "objects"

    @property
    def resolved_environments_dir(self) -> Path:
        """Where image environments live: ``environments_dir`` or DATA_DIR/environments."""
        return self.environments_dir or self.data_dir / "environments"

    @property
    def archive_limits(self) -> dict[str, float]:
        """The archive limits, by the field names of ``hybridjobs.archives.ArchiveLimits``."""
        mib = float(2**20)
        return {
            "max_compressed_bytes": self.archive_max_compressed_mib * mib,
            "max_members": self.archive_max_members,
            "max_expanded_bytes": self.archive_max_expanded_mib * mib,
            "max_expansion_ratio": self.archive_max_expansion_ratio,
        }

    @property
    def jobs_dir(self) -> Path:
        """Where each job's instance directories and logs live."""
        return self.data_dir / "jobs"

    @property
    def endpoint_url(self) -> str:
        """The URL jobs and clients use to reach this service."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        scheme = "https" if self.tls_cert is not None else "http"
        return f"{scheme}://{host}:{self.port}"
