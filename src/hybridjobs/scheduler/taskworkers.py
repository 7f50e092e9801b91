"""The task worker pool: runs QUEUED quantum tasks in worker processes.

``workers`` slots each own one worker process and a thread that claims the next task
(Priority before Normal, then oldest first; compare-and-set QUEUED -> RUNNING with this
pool as owner) whose simulator state fits the memory budget next to the tasks already
running, runs it, writes ``results.json`` where the task says, and records
COMPLETED, FAILED or CANCELLED. Cancelling a RUNNING task kills its worker. At start the
pool takes back tasks whose owner process is gone: RUNNING ones run again, CANCELLING
ones end CANCELLED.

Worker processes (~105 MiB PSS each) start on demand, so an idle service holds only
``warm`` of them (default 1):

* with ``prestart``, the first ``warm`` start with the pool (else at the first task), and
  one that died (a cancelled task's, or out of memory) is started again while the pool
  holds fewer than ``warm``;
* a slot whose worker is not running claims a task only while no running worker is idle
  (they are all busy): its worker then starts for that task, up to ``workers`` at once;
* a worker beyond the ``warm`` ones that has been idle ``idle_seconds`` is stopped.

So the first task finds a started worker, a burst grows the pool to ``workers``, and the
pool shrinks back once the burst is over.
"""

from __future__ import annotations

import logging
import threading
import time
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
STOP_GRACE_SECONDS = 0.2
"""How long a stopping pool lets each idle worker exit on its own (one still warming up
is killed then)."""


@dataclass(frozen=True)
class PoolConfig:
    """Size of the pool: worker processes, the bytes of simulator state all running tasks
    may hold together (also one task's cap), how often idle slots look at the database,
    the interpreter, where lightning takes over, whether the ``warm`` workers start with
    the pool (else at the first task), how many stay started while the pool is idle, and
    after how many idle seconds a worker beyond those is stopped."""

    workers: int
    memory_budget_bytes: int
    poll_seconds: float
    python: str
    lightning_min_qubits: int = 14
    prestart: bool = True
    warm: int = 1
    idle_seconds: float = 60.0

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
        self._last_busy = [time.monotonic()] * config.workers
        """When each slot last ended a task (or the pool started)."""
        self._retiring: set[int] = set()
        """Slots whose worker is being stopped for idleness."""
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
        """Take back orphaned tasks, then start the slots (and the ``warm`` workers, if
        asked)."""
        self._recover()
        for index, worker in enumerate(self._workers):
            if self.config.prestart and index < self.config.warm:
                worker.start()
            thread = threading.Thread(
                target=self._slot, args=(index,), name=f"task-worker-{index}", daemon=True
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
        for worker in self._workers:  # none runs a task now: nothing is lost by a kill
            worker.stop(grace=STOP_GRACE_SECONDS)

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

    def _slot(self, index: int) -> None:
        worker = self._workers[index]
        while True:
            with self._condition:
                if self._stopping:
                    return
            try:
                claimed = self._claim(index)
            except Exception:
                log.exception("claiming a quantum task failed; retrying")
                claimed = None
            if claimed is None:
                with self._condition:
                    if not self._stopping and not self._pending:
                        self._condition.wait(self.config.poll_seconds)
                self._tend(index)
                continue
            if isinstance(claimed, _Declined):
                with self._condition:
                    if not self._stopping:
                        self._condition.wait(self.config.poll_seconds)
                continue
            task, need = claimed
            try:
                self._run(worker, task)
            except Exception:
                log.exception("quantum task %s: recording its outcome failed", task.task_arn)
            finally:
                self._release(index, task, need)

    def _idle_running(self, besides: int) -> bool:
        """Whether a slot other than ``besides`` has a running worker and no task (call
        with the condition held)."""
        busy = {id(worker) for worker in self._running.values()}
        return any(
            other != besides
            and other not in self._retiring
            and id(worker) not in busy
            and worker.is_running()
            for other, worker in enumerate(self._workers)
        )

    def _running_workers(self) -> int:
        """Running workers not being stopped (call with the condition held)."""
        return sum(
            1
            for index, worker in enumerate(self._workers)
            if index not in self._retiring and worker.is_running()
        )

    def _tend(self, index: int) -> None:
        """An idle slot's upkeep: start its worker when the pool holds fewer than ``warm``
        (with ``prestart``; the lowest such slot does), or stop it when it is one beyond
        ``warm`` that has been idle ``idle_seconds``."""
        worker = self._workers[index]
        with self._condition:
            if self._stopping or index in self._retiring:
                return
            count = self._running_workers()
            if not worker.is_running():
                lowest = next(i for i, w in enumerate(self._workers) if not w.is_running())
                if self.config.prestart and count < self.config.warm and lowest == index:
                    worker.start()  # quick (a fork and exec); it warms up on its own
                return
            idle_for = time.monotonic() - self._last_busy[index]
            busy = any(w is worker for w in self._running.values())
            if busy or count <= self.config.warm or idle_for < self.config.idle_seconds:
                return
            self._retiring.add(index)
        try:
            worker.stop()  # closes its input; waits up to 2 s for it to exit
        finally:
            with self._condition:
                self._retiring.discard(index)
        log.info("task worker %d stopped after %.0f s idle", index, idle_for)

    def _claim(self, index: int) -> tuple[QuantumTask, int] | _Declined | None:
        worker = self._workers[index]
        with self._condition:
            if self._stopping:
                return None
            if index in self._retiring or (
                not worker.is_running() and self._idle_running(besides=index)
            ):
                return _DECLINED  # a started worker is idle: it takes the queue
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
                    self._condition.notify_all()  # more wait: an idle slot may take the next
                return claimed, need
        return None

    def _release(self, index: int, task: QuantumTask, need: int) -> None:
        with self._condition:
            self._last_busy[index] = time.monotonic()
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


class _Declined:
    """:meth:`TaskWorkerPool._claim`'s answer to a slot that must leave the queue to a
    running, idle worker."""


_DECLINED = _Declined()


def _death_reason(task: QuantumTask, returncode: int | None) -> str:
    need = memory_bytes(task.engine, task.action) / 2**30
    how = f"signal {-returncode}" if returncode is not None and returncode < 0 else "exit"
    return (
        f"The simulator process ended before the task finished ({how}); the task's state "
        f"needs about {need:.3g} GiB of memory. Try fewer qubits."
    )
