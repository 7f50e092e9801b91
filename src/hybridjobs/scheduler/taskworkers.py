"""The task worker pool: runs QUEUED quantum tasks in worker processes.

``workers`` slots each own one worker process (started on first use) and a thread that
claims the next task (Priority before Normal, then oldest first; compare-and-set QUEUED ->
RUNNING with this pool as owner) whose simulator state fits the memory budget next to the
tasks already running, runs it, writes ``results.json`` where the task says, and records
COMPLETED, FAILED or CANCELLED. Cancelling a RUNNING task kills its worker. At start the
pool takes back tasks whose owner process is gone: RUNNING ones run again, CANCELLING
ones end CANCELLED.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from hybridjobs.devices.catalog import DeviceCatalog
from hybridjobs.engines.base import EngineRequest, EngineResult
from hybridjobs.engines.footprint import memory_bytes
from hybridjobs.jobs.model import MAX_FAILURE_REASON, utcnow
from hybridjobs.objects import ObjectStore
from hybridjobs.objects.base import ObjectStoreError
from hybridjobs.scheduler.context import new_owner_id, owner_is_dead
from hybridjobs.scheduler.workerprocess import WorkerDied, WorkerProcess
from hybridjobs.store.taskbase import TaskStore
from hybridjobs.tasks.model import QuantumTask, TaskStatus

log = logging.getLogger(__name__)

_CLAIM_BATCH = 32
_FINISHED_REMEMBERED = 4096


@dataclass(frozen=True)
class PoolConfig:
    """Size of the pool: worker processes, the bytes of simulator state all running tasks
    may hold together (also one task's cap), how often idle slots look at the database,
    the interpreter, where lightning takes over, and whether workers start with the pool
    (else at the first task)."""

    workers: int
    memory_budget_bytes: int
    poll_seconds: float
    python: str
    lightning_min_qubits: int = 14
    prestart: bool = True

    def worker_arguments(self) -> list[str]:
        return [
            f"--max-task-memory-bytes={self.memory_budget_bytes}",
            f"--lightning-min-qubits={self.lightning_min_qubits}",
        ]


class TaskWorkerPool:
    """Runs tasks; the API's :class:`~hybridjobs.tasks.service.TaskRunner`."""

    def __init__(
        self,
        config: PoolConfig,
        store: TaskStore,
        objects: ObjectStore,
        catalog: DeviceCatalog,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.objects = objects
        self.catalog = catalog
        self.owner = owner or new_owner_id()
        self._condition = threading.Condition()
        self._stopping = False
        self._pending = False
        """A task was submitted since the last claim began: do not sleep, look again."""
        self._memory_in_use = 0
        self._running: dict[str, WorkerProcess] = {}
        self._waiters: dict[str, threading.Event] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._workers = [
            WorkerProcess(config.python, config.worker_arguments()) for _ in range(config.workers)
        ]
        self._threads: list[threading.Thread] = []
        self.on_finished: list[Callable[[QuantumTask], None]] = []

    # -- TaskRunner -----------------------------------------------------------------------

    def submitted(self, task: QuantumTask) -> None:
        self.wake()

    def wake(self) -> None:
        """Look at the queue now (a task was stored here or, heard through PostgreSQL
        NOTIFY, by another process)."""
        with self._condition:
            self._pending = True
            self._condition.notify_all()

    def cancel(self, task_arn: str) -> None:
        with self._condition:
            worker = self._running.get(task_arn)
        if worker is not None:
            worker.kill()

    def wait_finished(self, task_arn: str, timeout: float) -> None:
        with self._condition:
            if task_arn in self._finished:
                return
            event = self._waiters.setdefault(task_arn, threading.Event())
        event.wait(timeout)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Take back orphaned tasks, then start the slots (and the workers, if asked)."""
        self._recover()
        for index, worker in enumerate(self._workers):
            if self.config.prestart:
                worker.start()
            thread = threading.Thread(
                target=self._slot, args=(worker,), name=f"task-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming, kill running tasks' workers (those tasks run again at the next
        start), stop every worker process and join the slots."""
        with self._condition:
            self._stopping = True
            running = list(self._running.values())
            self._condition.notify_all()
        for worker in running:
            worker.kill()
        for thread in self._threads:
            thread.join(10)
        for worker in self._workers:
            worker.stop()

    def _recover(self) -> None:
        for task in self.store.list_tasks([TaskStatus.RUNNING, TaskStatus.CANCELLING]):
            if task.owner not in (None, self.owner) and not owner_is_dead(task.owner):
                continue
            if task.status is TaskStatus.CANCELLING:
                self.store.transition_task(
                    task.task_arn,
                    TaskStatus.CANCELLED,
                    expected=[TaskStatus.CANCELLING],
                    updates={"ended_at": utcnow()},
                )
            else:
                log.info("quantum task %s: running it again after a restart", task.task_arn)
                self.store.transition_task(
                    task.task_arn, TaskStatus.QUEUED, expected=[TaskStatus.RUNNING]
                )

    # -- slots ----------------------------------------------------------------------------

    def _slot(self, worker: WorkerProcess) -> None:
        while True:
            with self._condition:
                if self._stopping:
                    return
            try:
                claimed = self._claim(worker)
            except Exception:
                log.exception("claiming a quantum task failed; retrying")
                claimed = None
            if claimed is None:
                with self._condition:
                    if not self._stopping and not self._pending:
                        self._condition.wait(self.config.poll_seconds)
                continue
            task, need = claimed
            try:
                self._run(worker, task)
            except Exception:
                log.exception("quantum task %s: recording its outcome failed", task.task_arn)
            finally:
                self._release(task, need)

    def _claim(self, worker: WorkerProcess) -> tuple[QuantumTask, int] | None:
        with self._condition:
            if self._stopping:
                return None
            self._pending = False
            queued = self.store.queued_tasks(_CLAIM_BATCH)
            for position, task in enumerate(queued):
                need = memory_bytes(task.engine, task.action)
                fits = self._memory_in_use + need <= self.config.memory_budget_bytes
                if self._running and not fits:
                    continue
                claimed = self.store.transition_task(
                    task.task_arn,
                    TaskStatus.RUNNING,
                    expected=[TaskStatus.QUEUED],
                    updates={"started_at": utcnow(), "owner": self.owner},
                )
                if claimed is None:
                    continue
                self._memory_in_use += need
                self._running[task.task_arn] = worker
                if position + 1 < len(queued):
                    self._condition.notify()  # more wait: an idle slot may take the next
                return claimed, need
        return None

    def _release(self, task: QuantumTask, need: int) -> None:
        with self._condition:
            self._memory_in_use -= need
            self._running.pop(task.task_arn, None)
            self._finished[task.task_arn] = None
            while len(self._finished) > _FINISHED_REMEMBERED:
                self._finished.popitem(last=False)
            event = self._waiters.pop(task.task_arn, None)
            self._condition.notify_all()
        if event is not None:
            event.set()

    def _run(self, worker: WorkerProcess, task: QuantumTask) -> None:
        device = self.catalog.get(task.device_arn)
        request = EngineRequest(
            task_arn=task.task_arn,
            device_arn=task.device_arn,
            engine=task.engine,
            action=task.action,
            shots=task.shots,
            device_parameters=task.device_parameters,
            device_capabilities=device.capabilities_json if device is not None else "{}",
        )
        try:
            status, value = worker.run(request)
        except WorkerDied as died:
            with self._condition:
                if self._stopping:
                    return  # still RUNNING: the next start runs it again
            status, value = "failed", _death_reason(task, died.returncode)
        if status == "ok":
            assert isinstance(value, EngineResult)
            self._complete(task, value)
        else:
            self._fail(task, str(value))

    def _complete(self, task: QuantumTask, result: EngineResult) -> None:
        key = f"{task.output_s3_directory}/results.json"
        try:
            self.objects.put_bytes(task.output_s3_bucket, key, result.results_json.encode())
        except ObjectStoreError as exc:
            self._fail(
                task,
                f"The results could not be written to s3://{task.output_s3_bucket}/{key}: {exc}",
            )
            return
        moved = self.store.transition_task(
            task.task_arn,
            TaskStatus.COMPLETED,
            expected=[TaskStatus.RUNNING],
            updates={
                "ended_at": utcnow(),
                "num_successful_shots": result.num_successful_shots,
                "action_metadata": result.action_metadata or None,
            },
        )
        if moved is None:
            self._cancelled(task)
        else:
            self._announce(moved)

    def _fail(self, task: QuantumTask, reason: str) -> None:
        moved = self.store.transition_task(
            task.task_arn,
            TaskStatus.FAILED,
            expected=[TaskStatus.RUNNING],
            updates={"ended_at": utcnow(), "failure_reason": reason[:MAX_FAILURE_REASON]},
        )
        if moved is None:
            self._cancelled(task)
        else:
            self._announce(moved)

    def _cancelled(self, task: QuantumTask) -> None:
        moved = self.store.transition_task(
            task.task_arn,
            TaskStatus.CANCELLED,
            expected=[TaskStatus.CANCELLING],
            updates={"ended_at": utcnow()},
        )
        if moved is not None:
            self._announce(moved)

    def _announce(self, task: QuantumTask) -> None:
        for listener in self.on_finished:
            listener(task)


def _death_reason(task: QuantumTask, returncode: int | None) -> str:
    need = memory_bytes(task.engine, task.action) / 2**30
    how = f"signal {-returncode}" if returncode is not None and returncode < 0 else "exit"
    return (
        f"The simulator process ended before the task finished ({how}); the task's state "
        f"needs about {need:.3g} GiB of memory. Try fewer qubits."
    )
