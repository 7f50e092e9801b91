"""The current SQL schema (SQLAlchemy Core). Migrations bring older databases up to it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Times are stored as float seconds since the epoch (UTC): portable and sortable.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_arn", sa.String(256), nullable=False, unique=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("job_name", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("device", sa.String(256), nullable=False),
    sa.Column("instance_type", sa.String(64), nullable=False),
    sa.Column("instance_count", sa.Integer, nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("failure_reason", sa.Text),
    sa.Column("billable_duration_ms", sa.BigInteger),
    sa.Column("owner", sa.String(128)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("runner_state", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("job_token", sa.String(64)),
    sa.Column("claim_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_jobs_account_seq", "account_id", "seq"),
    sa.Index("ix_jobs_job_token", "job_token"),
    sa.Index("ix_jobs_status_seq", "status", "seq"),
    # Sorted job lists (the console's): keyset pages by name or status per account.
    sa.Index("ix_jobs_account_name_seq", "account_id", "job_name", "seq"),
    sa.Index("ix_jobs_account_status_seq", "account_id", "status", "seq"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_arn", sa.String(256), sa.ForeignKey("jobs.job_arn"), nullable=False),
    sa.Column("event_type", sa.String(48), nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_job_events_job", "job_arn", "id"),
)

job_tags = sa.Table(
    "job_tags",
    metadata,
    sa.Column("job_arn", sa.String(256), sa.ForeignKey("jobs.job_arn"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("client_token", sa.String(64), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("job_arn", sa.String(256), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_arn", sa.String(256), nullable=False),
    sa.Column("instance", sa.String(32), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_log_events_stream", "job_arn", "instance", "id"),
)

# Per instance of a job, how many lines its agent has had accepted through PutLogEvents:
# the sequence token the next batch must carry (exactly-once across retries).
log_cursors = sa.Table(
    "log_cursors",
    metadata,
    sa.Column("job_arn", sa.String(256), sa.ForeignKey("jobs.job_arn"), primary_key=True),
    sa.Column("instance", sa.String(32), primary_key=True),
    sa.Column("accepted_lines", sa.BigInteger, nullable=False),
)

log_file_offsets = sa.Table(
    "log_file_offsets",
    metadata,
    sa.Column("job_arn", sa.String(256), sa.ForeignKey("jobs.job_arn"), primary_key=True),
    sa.Column("instance", sa.String(32), primary_key=True),
    sa.Column("shipped_bytes", sa.BigInteger, nullable=False),
)

scheduler_leases = sa.Table(
    "scheduler_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_arn", sa.String(256), nullable=False),
    sa.Column("instance", sa.String(32), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("iteration_number", sa.Integer),
    sa.Index("ix_metrics_job", "job_arn", "id"),
)

quantum_tasks = sa.Table(
    "quantum_tasks",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_arn", sa.String(256), nullable=False, unique=True),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("device_arn", sa.String(256), nullable=False),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("shots", sa.BigInteger, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("device_parameters", sa.Text),
    sa.Column("output_s3_bucket", sa.String(64), nullable=False),
    sa.Column("output_s3_directory", sa.String(1200), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("job_arn", sa.String(256)),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("extras", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("failure_reason", sa.Text),
    sa.Column("num_successful_shots", sa.BigInteger),
    sa.Column("action_metadata", sa.JSON),
    sa.Column("owner", sa.String(128)),
    sa.Index("ix_quantum_tasks_account_seq", "account_id", "seq"),
    sa.Index("ix_quantum_tasks_status_seq", "status", "seq"),
    sa.Index("ix_quantum_tasks_job", "job_arn", "seq"),
)

task_idempotency = sa.Table(
    "task_idempotency",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("client_token", sa.String(64), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("task_arn", sa.String(256), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# The S3 surface's records (store/objectmetabase.py): buckets created through it, and
# per object the attributes the object store does not hold. An object's row is keyed by
# the SHA-256 of its key (keys are up to 1024 bytes of any UTF-8) and carries the size and
# store ETag that must still match for the row to describe the object.
s3_buckets = sa.Table(
    "s3_buckets",
    metadata,
    sa.Column("bucket", sa.String(255), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    # The account that created the bucket (NULL: made before accounts, or outside S3).
    sa.Column("account_id", sa.String(12)),
)

s3_objects = sa.Table(
    "s3_objects",
    metadata,
    sa.Column("bucket", sa.String(255), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(128), nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("s3_etag", sa.String(128)),
    sa.Column("tags", sa.JSON, nullable=False),
)

# Usage records (hybridjobs.usage): one per finished job or quantum task, written in the
# same transaction as its terminal status and keyed uniquely by it ("job:<arn>",
# "task:<arn>"), so a restart neither loses nor doubles one. For a job, ``resource_type`` is
# its instance type and ``duration_ms`` its billableDuration (all instances together); for a
# task, ``resource_type`` is its device ARN and ``duration_ms`` the time it ran.
usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_key", sa.String(300), nullable=False, unique=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("resource_arn", sa.String(256), nullable=False),
    sa.Column("job_arn", sa.String(256)),
    sa.Column("resource_type", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("instance_count", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.BigInteger, nullable=False),
    sa.Column("shots", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float, nullable=False),
    sa.Index("ix_usage_records_account_ended", "account_id", "ended_at"),
)

# Spending limits (CreateSpendingLimit …): per account and QPU device, an amount in USD
# over a time period (epoch seconds); the client token makes a create idempotent.
spending_limits = sa.Table(
    "spending_limits",
    metadata,
    sa.Column("spending_limit_arn", sa.String(256), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("device_arn", sa.String(256), nullable=False),
    sa.Column("amount", sa.String(32), nullable=False),
    sa.Column("start_at", sa.Float, nullable=False),
    sa.Column("end_at", sa.Float, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("client_token", sa.String(64), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("account_id", "client_token", name="uq_spending_limits_token"),
    sa.Index("ix_spending_limits_account_device", "account_id", "device_arn"),
)

# Secrets the service makes for itself once (the job-credentials key), shared by every
# process that opens the database and kept across restarts.
service_secrets = sa.Table(
    "service_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)
