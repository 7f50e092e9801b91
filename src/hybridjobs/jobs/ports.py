"""The jobs domain's persistence port: what the API and the scheduler may ask of a store.

The domain owns this contract; the adapters in ``hybridjobs.store`` implement it (they
import this module, never the other way round: design.md §4.3). Every implementation
passes ``tests/contract/test_store_contract.py``. Status changes go
through :meth:`JobStore.transition`, a compare-and-set against the transition table, so two
processes (API and scheduler, or two schedulers) can never both move a job. A scheduler
writes what concerns a job it runs (status, events, runner state, log lines, metrics)
under its :class:`Claim`, so one that stalled and lost the job to another writes nothing.
Lines that an instance agent ships through the Logs surface are appended exactly once by
:meth:`JobStore.append_instance_lines`, against a per-instance count of accepted lines.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hybridjobs.jobs.model import Job, JobEvent, JobStatus


@dataclass(frozen=True)
class Claim:
    """A scheduler's hold on one job: its owner id and the epoch the claim was made in.

    Every claim of a job (admission, or a takeover from a scheduler that stopped
    heartbeating) raises the job's epoch, so a claim is a fencing token: a write made
    with a claim that is no longer the job's current one is refused with
    :class:`ClaimLost` and changes nothing.
    """

    owner: str | None
    """``None`` only for an unfinished job nobody holds (one that never ran)."""
    epoch: int


@dataclass(frozen=True)
class Lease:
    """Who holds the named lease until when (epoch seconds); ``epoch`` goes up by one each
    time the lease changes hands."""

    name: str
    holder: str
    epoch: int
    expires_at: float


class ClaimLost(Exception):
    """The job is no longer held by the claim a scheduler wrote with (another scheduler
    took it over, or it is gone); nothing was written."""

    def __init__(self, job_arn: str, claim: Claim) -> None:
        super().__init__(f"{job_arn} is no longer held by {claim.owner} (epoch {claim.epoch})")
        self.job_arn = job_arn
        self.claim = claim


class IdempotencyConflict(Exception):
    """The client token was used before with a different request."""

    def __init__(self, job_arn: str) -> None:
        super().__init__(job_arn)
        self.job_arn = job_arn


@dataclass(frozen=True)
class IdempotencyKey:
    """A client token, scoped to an account, and the hash of the request that carried it."""

    account_id: str
    client_token: str
    request_hash: str


@dataclass(frozen=True)
class JobFilter:
    """One search condition; conditions are ANDed, a condition's values are ORed.

    ``field`` is one of ``job_arn``, ``job_name``, ``device``, ``status``, ``created_at``;
    ``operator`` one of EQUAL, CONTAINS, LT, LTE, GT, GTE, BETWEEN. ``created_at`` values
    are datetimes, the others strings.
    """

    field: str
    operator: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class JobOrder:
    """The order of a sorted job search and where its page starts (keyset pagination).

    ``key`` is ``created`` (creation order), ``name`` or ``status``; ties, and ``created``
    itself, go by the job's sequence number, in the same direction. ``after`` is the
    (sort value, sequence) of the last job of the previous page: the page holds only jobs
    strictly after it in this order (the sort value is ignored for ``created``).
    """

    key: str = "created"
    descending: bool = True
    after: tuple[Any, int] | None = None


ORDER_KEYS = ("created", "name", "status")


@dataclass(frozen=True)
class TagMatch:
    """A job search condition on tags: the job has tag ``key`` (with ``value`` when given)."""

    key: str
    value: str | None = None


@dataclass(frozen=True)
class JobDetails:
    """Everything GetJob shows, read in one transaction."""

    job: Job
    events: list[JobEvent]
    tags: dict[str, str]
    queue_position: int | None


@dataclass(frozen=True)
class LogEvent:
    """One line of an instance's output, with the time the service saw it."""

    instance: str
    timestamp: datetime.datetime
    message: str
    sequence: int = 0


@dataclass(frozen=True)
class LogStreamSummary:
    """What one instance's stored output amounts to: how many lines, and the times and
    sequence of its first and last line."""

    instance: str
    event_count: int
    first_timestamp: datetime.datetime
    last_timestamp: datetime.datetime
    last_sequence: int


@dataclass(frozen=True)
class MetricPoint:
    """One value parsed from a ``Metrics - ...`` line."""

    instance: str
    timestamp: float
    name: str
    value: float
    iteration_number: int | None = None


class UnknownJob(LookupError):
    """No job has the ARN a store method was given; nothing was written."""

    def __init__(self, job_arn: str) -> None:
        super().__init__(job_arn)
        self.job_arn = job_arn


@dataclass(frozen=True)
class InstanceLine:
    """One line an instance agent shipped: when it was printed, its text, and the metric
    points parsed from it (stored together with the line, or not at all)."""

    timestamp: datetime.datetime
    message: str
    metrics: tuple[MetricPoint, ...] = ()


class AppendResult(enum.Enum):
    """What :meth:`JobStore.append_instance_lines` made of a batch."""

    APPENDED = "appended"
    """The lines the stream did not hold yet (all, or the tail of a longer retry) were stored."""
    ALREADY_ACCEPTED = "already-accepted"
    """Every line of the batch was accepted before (a retry): nothing was stored."""
    GAP = "gap"
    """The batch starts after the last accepted line (lines would be missing): nothing was
    stored."""


@dataclass(frozen=True)
class AppendOutcome:
    """The answer to one batch: what happened, how many of its lines were stored now, and
    how many lines of the stream are accepted after it (the next batch's first line)."""

    result: AppendResult
    stored: int
    accepted_lines: int


def plan_append(accepted_lines: int, first_line: int, count: int) -> AppendOutcome:
    """The outcome of a batch of ``count`` lines numbered from ``first_line`` (0-based) on
    a stream that has accepted ``accepted_lines`` lines (``c``; ``t`` = ``first_line``,
    ``n`` = ``count``):

    * ``t == c``: all ``n`` lines are stored, ``c`` becomes ``t + n``;
    * ``t < c < t + n``: a retry that carries more lines: only the last ``t + n - c``
      (the batch from index ``c - t`` on) are stored, ``c`` becomes ``t + n``;
    * ``t < c`` and ``t + n <= c``: a retry of lines all accepted: ALREADY_ACCEPTED;
    * ``t > c``: lines ``c .. t-1`` were never sent: GAP.

    ALREADY_ACCEPTED and GAP store nothing and report ``c`` unchanged. An empty batch at
    ``t == c`` is APPENDED with nothing stored. Negative numbers raise ValueError.
    """
    if min(accepted_lines, first_line, count) < 0:
        raise ValueError(f"negative line numbers: {accepted_lines}, {first_line}, {count}")
    if first_line > accepted_lines:
        return AppendOutcome(AppendResult.GAP, 0, accepted_lines)
    end = first_line + count
    if first_line < accepted_lines and end <= accepted_lines:
        return AppendOutcome(AppendResult.ALREADY_ACCEPTED, 0, accepted_lines)
    return AppendOutcome(AppendResult.APPENDED, end - accepted_lines, end)


class JobStore(Protocol):
    """Persistence for jobs. Implementations are safe to share between threads."""

    def create_job(
        self,
        job: Job,
        event: JobEvent,
        tags: dict[str, str],
        idempotency: IdempotencyKey | None,
    ) -> tuple[Job, bool]:
        """Insert ``job`` with its first event and tags, atomically.

        With an idempotency key already recorded for the same request, return the job it
        created and ``False``; with the same token but another request hash, raise
        IdempotencyConflict. Otherwise insert and return the stored job and ``True``.
        """
        ...

    def find_idempotent_job(self, idempotency: IdempotencyKey) -> Job | None:
        """The job an earlier request with this key created (``None``: none yet); raise
        IdempotencyConflict when the token was used for another request."""
        ...

    def get_job(self, job_arn: str) -> Job | None: ...

    def job_for_token(self, job_token: str) -> Job | None:
        """The job whose instances hold ``job_token``; ``None`` when no job does."""
        ...

    def get_job_details(
        self, job_arn: str, event_limit: int, with_queue_position: bool
    ) -> JobDetails | None:
        """The job, its latest ``event_limit`` events (oldest first), its tags and, when
        asked and the job is QUEUED, its :meth:`queue_position`; one consistent read."""
        ...

    def list_events(self, job_arn: str, limit: int | None = None) -> list[JobEvent]:
        """Events oldest first; with ``limit``, the most recent ``limit`` of them."""
        ...

    def add_event(self, job_arn: str, event: JobEvent, *, claim: Claim | None = None) -> None:
        """Append ``event``; with ``claim``, only while it holds (else :class:`ClaimLost`)."""
        ...

    def transition(
        self,
        job_arn: str,
        to: JobStatus,
        *,
        expected: Iterable[JobStatus] | None = None,
        event: JobEvent | None = None,
        updates: dict[str, Any] | None = None,
        claim: Claim | None = None,
    ) -> Job | None:
        """Move the job to ``to`` if its status is one of ``expected`` (default: every
        status the transition table allows ``to`` from); compare-and-set. With ``claim``,
        also only while that claim holds the job: raises :class:`ClaimLost` when it does
        not (nothing written).

        ``updates`` sets other Job fields in the same write (``started_at``, ``ended_at``,
        ``failure_reason``, ``billable_duration_ms``, ``owner``, ``heartbeat_at``,
        ``runner_state``). Returns the updated job, or ``None`` when the job's status was
        not one of ``expected`` (nothing written). Raises ValueError when ``expected``
        holds a status from which the table does not allow ``to``.
        """
        ...

    def claim_if_fits(
        self,
        job_arn: str,
        fits: Callable[[list[Job]], bool],
        *,
        event: JobEvent | None = None,
        updates: dict[str, Any] | None = None,
    ) -> Job | None:
        """Admit a QUEUED job against the whole service's capacity: in one write
        transaction that excludes every other ``claim_if_fits`` (any process sharing the
        database), read every RUNNING and CANCELLING job of every owner, and only if
        ``fits(those jobs)`` is true move the job QUEUED -> RUNNING as :meth:`transition`
        does (``event`` and ``updates`` likewise; ``updates`` names the new ``owner``).
        The claim's epoch (``Job.claim_epoch``) goes up by one.

        Returns the claimed job; ``None`` when the job is no longer QUEUED (``fits`` is not
        called) or when ``fits`` said no (nothing written).
        """
        ...

    def update_job(self, job_arn: str, updates: dict[str, Any], *, claim: Claim | None) -> None:
        """Set scheduler-owned fields (``runner_state``, ``heartbeat_at``, …) without a
        status change; with ``claim``, only while that claim holds the job (else
        :class:`ClaimLost`, nothing written)."""
        ...

    def take_over(
        self, job_arn: str, previous: Claim, owner: str, now: datetime.datetime
    ) -> Claim | None:
        """Move an unfinished job from ``previous`` (a scheduler that stopped heartbeating)
        to ``owner`` under a new epoch, heartbeat ``now``. Returns the new claim, or
        ``None`` when ``previous`` no longer held the job (someone else took it first, or
        it ended)."""
        ...

    def holds(self, job_arn: str, claim: Claim) -> bool:
        """Whether ``claim`` is the job's current claim (a read: it may change at once)."""
        ...

    def heartbeat(self, owner: str, job_arns: Sequence[str], now: datetime.datetime) -> int:
        """Refresh ``heartbeat_at`` of the owner's unfinished jobs; returns rows touched."""
        ...

    def list_jobs(self, statuses: Iterable[JobStatus], limit: int | None = None) -> list[Job]:
        """Jobs in the given statuses, in creation order (oldest first), all accounts."""
        ...

    def queue_position(self, job: Job) -> int:
        """How many QUEUED jobs were created before ``job`` (0: next in line)."""
        ...

    def queued_jobs_by_device(self) -> dict[str, int]:
        """How many QUEUED jobs name each device (devices with none are absent)."""
        ...

    def search_jobs(
        self,
        account_id: str,
        filters: Sequence[JobFilter],
        limit: int,
        before_seq: int | None = None,
        *,
        order: JobOrder | None = None,
        tags: Sequence[TagMatch] = (),
    ) -> list[Job]:
        """The account's jobs matching every filter and tag match, at most ``limit``:
        newest first, only those with ``seq < before_seq`` when given (keyset
        pagination); with ``order``, in its order from its ``after`` instead (and
        ``before_seq`` is ignored)."""
        ...

    def get_tags(self, job_arn: str) -> dict[str, str]: ...

    def get_tags_for(self, job_arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """Tags of several jobs in one query (jobs without tags map to ``{}``)."""
        ...

    def tag(self, job_arn: str, tags: dict[str, str]) -> None: ...

    def untag(self, job_arn: str, keys: Iterable[str]) -> None: ...

    def add_log_events(
        self, job_arn: str, events: Sequence[LogEvent], *, claim: Claim | None = None
    ) -> None:
        """Append ``events`` in order; with ``claim``, only while it holds (else
        :class:`ClaimLost`, nothing written)."""
        ...

    def list_log_events(
        self,
        job_arn: str,
        instance: str,
        after_sequence: int = 0,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
        limit: int = 10000,
        *,
        before_sequence: int | None = None,
        newest_first: bool = False,
        contains: str | None = None,
    ) -> list[LogEvent]:
        """An instance's log lines in order, after ``after_sequence``, within the window.

        ``start_time`` is inclusive, ``end_time`` exclusive. ``before_sequence`` keeps only
        lines with a smaller sequence; ``contains`` only lines holding that substring
        (case-sensitive, taken literally). With ``newest_first`` the *last* ``limit``
        matching lines come back, newest first.
        """
        ...

    def summarize_log_events(self, job_arn: str) -> dict[str, LogStreamSummary]:
        """Per instance that has logged at least one line: its line count, first and last
        line times and last sequence."""
        ...

    def ship_log_file(
        self,
        job_arn: str,
        instance: str,
        events: Sequence[LogEvent],
        points: Sequence[MetricPoint],
        shipped_bytes: int,
        *,
        claim: Claim | None = None,
    ) -> None:
        """Store lines read from ``instance``'s log file, their metric points, and
        ``shipped_bytes`` (how far into the file everything is now stored) in one write
        transaction: a scheduler that dies between two calls resumes at the recorded
        offset, so no line is stored twice or lost. With ``claim``, only while it holds
        (else :class:`ClaimLost`, nothing written)."""
        ...

    def log_file_offsets(self, job_arn: str) -> dict[str, int]:
        """The offsets :meth:`ship_log_file` recorded, by instance (``{}``: none yet)."""
        ...

    def add_metrics(
        self, job_arn: str, points: Sequence[MetricPoint], *, claim: Claim | None = None
    ) -> None:
        """Append ``points`` in order; with ``claim``, only while it holds (else
        :class:`ClaimLost`, nothing written)."""
        ...

    def list_metrics(self, job_arn: str) -> list[MetricPoint]: ...

    def append_instance_lines(
        self, job_arn: str, instance: str, first_line: int, lines: Sequence[InstanceLine]
    ) -> AppendOutcome:
        """Append the lines an agent shipped for one instance, exactly once across retries.

        ``first_line`` is the 0-based number, within what the instance's agent has shipped,
        of ``lines[0]``. In one write transaction that excludes every other append to the
        same (job, instance) (any process sharing the database): read the count of lines
        accepted so far (0 for a stream never appended to), decide by :func:`plan_append`,
        and store the lines it keeps, in order, each with its metric points (log events of
        ``instance`` at the line's time; NUL characters replaced where the database cannot
        hold them, as :meth:`add_log_events` does), together with the new count. Two
        concurrent appends with the same ``first_line`` thus store the lines once: one is
        APPENDED, the other sees the first's count.

        Lines are accepted whatever the job's status (an agent's last batch may land after
        the job ended); no claim is involved. Raises :class:`UnknownJob` (nothing written)
        when no job has ``job_arn``.
        """
        ...

    def accepted_instance_lines(self, job_arn: str, instance: str) -> int:
        """How many lines of (job, instance) :meth:`append_instance_lines` has accepted
        (0 when none; a read: it may grow at once)."""
        ...

    def acquire_lease(
        self, name: str, holder: str, now: float, ttl: float, replacing: str | None = None
    ) -> Lease | None:
        """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``: granted when
        nobody holds it, ``holder`` does, the holder's lease expired before ``now``, or the
        holder is ``replacing`` (one the caller knows is dead); the epoch goes up when the
        lease changes hands. Returns the lease, or ``None`` when another holder's lease is
        still valid. One write transaction: two processes never both get it."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Let the lease expire now if ``holder`` holds it (a clean hand-over)."""
        ...

    def lease_holder(self, name: str) -> Lease | None:
        """The lease as last written (it may have expired), or ``None``."""
        ...

    def close(self) -> None: ...
