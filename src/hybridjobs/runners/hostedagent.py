"""One instance's agent, run on a thread of the Ray actor that hosts it: a cold instance
actor (:mod:`hybridjobs.runners.rayinstances`) or a node's pool
(:mod:`hybridjobs.runners.raypool`), which answer the runner's polls from it."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridjobs.agent.agent import InstanceAgent, Launcher
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.runners.raynode import node_confinement
from hybridjobs.runners.warmpool import ForkedInstanceHandle
from hybridjobs.sandbox.select import Confinement, SandboxUnavailable

log = logging.getLogger("hybridjobs.runners.raypool")


class HostedAgent:
    """One instance's agent run on a thread of the actor that hosts it (a cold instance
    actor, or a node pool). :meth:`poll` answers ``{"started", "report", "error",
    "warm"}``: whether the instance's process runs, the agent's report once the instance
    has ended and its files are gone, what made the agent itself fail, and whether the
    process was forked from a zygote."""

    def __init__(
        self,
        plan: AgentPlan,
        work_dir: Path,
        node_id: str,
        launcher: Launcher | None = None,
        on_finished: Callable[[], None] | None = None,
        confinement: Confinement | None = None,
        visible_gpus: str | None = None,
    ) -> None:
        self.plan = plan
        self.visible_gpus = visible_gpus
        """The instance's ``CUDA_VISIBLE_DEVICES`` (``None``: not set)."""
        self.confinement = confinement
        """The sandbox ``launcher`` makes; without a launcher, the one the plan's sandbox
        policy asks of this node (found when the agent starts)."""
        self.on_finished = on_finished
        self.work_dir = work_dir
        self.node_id = node_id
        self.launcher = launcher
        self.agent: InstanceAgent | None = None
        self.endpoint_url: str | None = None
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.stop_requested = False
        self.finished = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self, master_addr: str) -> None:
        """Start the agent (once; later calls do nothing)."""
        if self._thread is not None or self.finished.is_set():
            return
        confinement = self.confinement
        if self.launcher is None and confinement is None:
            try:
                confinement = node_confinement(self.plan.sandbox_policy)
            except SandboxUnavailable as exc:
                self._refuse(f"node {self.node_id}: {exc}")
                return
        self.agent = InstanceAgent(
            self.plan,
            self.work_dir,
            master_addr=master_addr,
            node_id=self.node_id,
            launcher=self.launcher,
            confinement=confinement,
            visible_gpus=self.visible_gpus,
        )
        if self.endpoint_url is not None:
            self.agent.redirect(self.endpoint_url)
        if self.stop_requested:
            self.agent.stop()
        self.agent.on_started = self._notify
        self._thread = threading.Thread(target=self._run, name="agent", daemon=True)
        self._thread.start()

    def _refuse(self, error: str) -> None:
        """End without starting anything: ``error`` says why (the job's failure)."""
        self.error = error
        self.finished.set()
        self._notify()
        if self.on_finished is not None:
            self.on_finished()

    def _run(self) -> None:
        assert self.agent is not None
        try:
            report = self.agent.run().to_dict()
        except BaseException as exc:
            log.exception("the agent of %s failed", self.plan.host)
            self.agent.cleanup()
            self.error = "".join(traceback.format_exception_only(exc)).strip()
        else:
            self.agent.cleanup()
            self.report = report
        finally:
            self.finished.set()
            self._notify()
            if self.on_finished is not None:
                self.on_finished()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_change(self, started: bool, timeout: float) -> None:
        """Return once the instance's process has started (when ``started`` is false) or
        its agent has finished, or after ``timeout`` seconds."""

        def changed() -> bool:
            agent = self.agent
            return self.finished.is_set() or (not started and agent is not None and agent.started)

        with self._changed:
            self._changed.wait_for(changed, timeout)

    def poll(self) -> dict[str, Any]:
        agent = self.agent
        started = agent is not None and agent.started
        warm = agent is not None and isinstance(agent.handle, ForkedInstanceHandle)
        return {"started": started, "report": self.report, "error": self.error, "warm": warm}

    def stop(self) -> None:
        self.stop_requested = True
        if self.agent is not None:
            self.agent.stop()

    def redirect(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        if self.agent is not None:
            self.agent.redirect(endpoint_url)
