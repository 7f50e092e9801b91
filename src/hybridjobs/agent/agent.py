"""The instance agent: everything around one instance, on whatever machine it runs.

Given an :class:`~hybridjobs.agent.plan.AgentPlan`, :meth:`InstanceAgent.run` does what a
Braket container's host does around the user's code, reaching the service only through
its AWS surfaces with the job's own credentials (nothing is shared on disk):

1. lays out the instance's directories (the job contract of ``runners/contract.py``)
   under a working directory of this machine;
2. downloads the input channels and restores the checkpoints through the S3 API;
3. starts the bootstrap in a process group of its own, which fetches the script through
   the S3 API and calls the entry point;
4. while it runs, ships its output to the Logs surface (:mod:`.logship`: batched, in
   order, exactly once across retries) and uploads new checkpoints every
   ``checkpoint_sync_seconds``;
5. when it ends: ships the last lines, uploads the checkpoints once more and, when the
   instance succeeded (exit code 0, no failure file), its results directory as a
   ``.tar.gz`` at ``plan.results_uri``;
6. returns an :class:`AgentReport`: exit code and failure text, told as the local
   supervisor tells them for its processes (so a job fails with the same reason on
   either runner).

:meth:`stop` (cancel, max runtime, another instance's failure) ends the instance's whole
process group: SIGTERM, ``stop_grace_seconds``, SIGKILL; the report then says
``stopped`` and no results are uploaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import posixpath
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hybridjobs import jobdata
from hybridjobs.agent.logship import LogShipper
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.agent.servicelink import ServiceLink
from hybridjobs.environments.build import BuildCancelled, EnvironmentBuildError
from hybridjobs.environments.nodes import node_interpreter, requirements_cache
from hybridjobs.instanceend import last_error_line
from hybridjobs.objects import parse_s3_uri
from hybridjobs.runners import contract
from hybridjobs.runners.boxlayout import prepare_instance
from hybridjobs.runners.local import ColdLauncher, InstanceHandle, stop_all
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.sandbox.select import Confinement

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_FINAL_SHIP_SECONDS = 600.0
"""How long an agent tries to hand its instance's last lines to the service."""


@dataclass(frozen=True)
class AgentReport:
    """How one instance ended, in the terms the local supervisor uses for its processes.

    ``failure`` is the instance's failure text: its ``output/failure`` file (whatever its
    exit code: a failure file with exit code 0 still fails the job); else, when it exited
    non-zero, its last error line, or ``"algo-N was killed by SIGNAME"`` (``killed``) when
    it left no exit status; ``""`` when it succeeded. ``started`` says whether its process
    ran at all: when not, ``failure`` is the whole failure reason of the job (its input
    could not be downloaded) or empty (it was stopped first). ``ended_at`` is when the
    instance ended (seconds since the epoch), ``results_uploaded`` whether its results
    directory is at the plan's ``results_uri``.
    """

    host: str
    exit_code: int
    failure: str
    stopped: bool
    results_uploaded: bool
    started: bool = True
    killed: bool = False
    ended_at: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether this instance fails the job (a stopped one does not decide it)."""
        return not self.stopped and (self.exit_code != 0 or bool(self.failure))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> AgentReport:
        return cls(**fields)


class Launcher(Protocol):
    """How an agent starts its instance's process (the cold launcher of the local runner,
    or a warm launcher that forks it from a zygote of the node)."""

    def launch(
        self,
        host: str,
        spec_path: Path,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        python: str,
        box: InstanceBox | None = None,
    ) -> InstanceHandle: ...


class InstanceAgent:
    """Runs the instance of ``plan`` under ``work_dir`` (see the module docstring).

    ``master_addr`` is algo-1's machine address, given to the instance as ``MASTER_ADDR``
    when the job asks for data parallelism. :attr:`started` turns true once the
    instance's process runs (its inputs are in place). ``launcher`` starts that process
    (default: a fresh interpreter that dies with the thread that ran :meth:`run`, in the
    sandbox of ``confinement``). When ``confinement`` isolates, the instance is laid out
    for its sandbox (container paths) and launched with its box; ``launcher`` must then
    sandbox it (a cold launcher of the same confinement, or a warm one whose pool makes
    the same sandbox). ``python`` is this machine's own interpreter: the instance runs on
    the interpreter of the plan's image environment, found or built here when the agent
    runs (:mod:`hybridjobs.environments.nodes`). ``visible_gpus`` is the instance's
    ``CUDA_VISIBLE_DEVICES`` (the GPUs this machine gave it; ``None``: not set)."""

    def __init__(
        self,
        plan: AgentPlan,
        work_dir: Path,
        *,
        python: str = sys.executable,
        master_addr: str = "127.0.0.1",
        node_id: str | None = None,
        launcher: Launcher | None = None,
        confinement: Confinement | None = None,
        visible_gpus: str | None = None,
    ) -> None:
        self.plan = plan
        self.confinement = confinement
        self.launcher: Launcher = launcher or ColdLauncher(
            python, die_with_parent=True, confinement=confinement
        )
        self.work_dir = work_dir
        self.python = python
        self.launch = plan.launch(
            plan.job_dir(work_dir),
            python,
            work_dir / "cache" / "requirements",
            master_addr=master_addr,
            node_id=node_id,
            visible_gpus=visible_gpus,
        )
        self.paths = contract.instance_paths(self.launch)
        self.link = ServiceLink(plan)
        self.handle: InstanceHandle | None = None
        self._stop = threading.Event()
        self._said: set[str] = set()
        self.on_started: Callable[[], None] | None = None
        """Called (on :meth:`run`'s thread) once the instance's process has started."""

    @property
    def started(self) -> bool:
        """Whether the instance's process has been started."""
        return self.handle is not None

    # -- the whole life -------------------------------------------------------------------

    def run(self) -> AgentReport:
        """Run the instance to its end; never raises for the job's own failures."""
        shipper = LogShipper(
            self.link.logs(), self.plan.log_group, self.plan.log_stream, self.paths.log_file
        )
        try:
            unusable = self._use_environment(shipper)
        except BuildCancelled:  # stopped while the environment was building
            self._finish_shipping(shipper)
            return self._report(143, "", True, started=False)
        if unusable is not None:
            self._finish_shipping(shipper)
            return self._report(1, unusable, False, started=False)
        isolated = self.confinement is not None and self.confinement.sandbox.isolates
        prepared = prepare_instance(self.launch, isolated, self.plan.sandbox_pids_max)
        paths, env, spec = prepared.paths, prepared.env, prepared.spec
        failure = self._download(shipper)
        if failure is not None or self._stop.is_set():
            self._finish_shipping(shipper)
            return self._report(
                1 if failure else 143, failure or "", failure is None, started=False
            )
        self._prefetch_script(paths.spec_file)  # its host path (spec may be a container one)
        self.handle = self.launcher.launch(
            self.plan.host,
            spec,
            env,
            paths.instance_dir,
            paths.log_file,
            paths.exit_file,
            self.python,
            prepared.box if self.confinement is not None else None,
        )
        if self.on_started is not None:
            self.on_started()
        code, stopped = self._watch(shipper)
        return self._wind_up(shipper, code, stopped)

    def stop(self) -> None:
        """Ask :meth:`run` to stop the instance (any thread); returns at once."""
        self._stop.set()

    def redirect(self, endpoint_url: str) -> None:
        """The service listens at ``endpoint_url`` now (any thread; see ServiceLink)."""
        self.link.redirect(endpoint_url)

    def cleanup(self) -> None:
        """Remove this instance's directory and log file (after :meth:`run` returned),
        and the job's directory once no other instance of the job on this machine uses it."""
        shutil.rmtree(self.paths.instance_dir, ignore_errors=True)
        self.paths.log_file.unlink(missing_ok=True)
        for directory in (
            self.paths.instance_dir.parent,
            self.paths.log_file.parent,
            self.launch.job_dir,
        ):
            with contextlib.suppress(OSError):  # not empty: another instance still uses it
                directory.rmdir()

    # -- steps ----------------------------------------------------------------------------

    def _wind_up(self, shipper: LogShipper, code: int, stopped: bool) -> AgentReport:
        """After the instance's process ended with ``code``: its last lines and
        checkpoints, its results when it succeeded, and its report."""
        ended_at = time.time()
        self._finish_shipping(shipper)
        self._sync_checkpoints(shipper)
        self._finish_shipping(shipper)
        failure, killed = self._failure(code)
        uploaded = not stopped and code == 0 and not failure and self._upload_results()
        return self._report(code, failure, stopped, uploaded, killed=killed, ended_at=ended_at)

    def _report(
        self,
        code: int,
        failure: str,
        stopped: bool,
        uploaded: bool = False,
        *,
        started: bool = True,
        killed: bool = False,
        ended_at: float | None = None,
    ) -> AgentReport:
        return AgentReport(
            host=self.plan.host,
            exit_code=code,
            failure=failure,
            stopped=stopped,
            results_uploaded=uploaded,
            started=started,
            killed=killed,
            ended_at=time.time() if ended_at is None else ended_at,
        )

    def _use_environment(self, shipper: LogShipper) -> str | None:
        """Run the instance on its image environment's interpreter on this machine (built
        here on first use); the job's failure reason when it cannot be found or built.
        ``BuildCancelled`` when :meth:`stop` is called while it builds."""
        try:
            python = node_interpreter(
                self.plan.environment,
                self.python,
                image=self.plan.image_uri or "(none)",
                node=self.launch.node_id or "this machine",
                say=shipper.say,
                cancelled=self._stop.is_set,
            )
        except EnvironmentBuildError as exc:
            return f"ClientError: the job's image cannot run: {exc}"
        if python != self.python:
            self.python = python
            self.launch = dataclasses.replace(
                self.launch,
                python=python,
                requirements_cache_dir=requirements_cache(self.work_dir, python),
            )
        return None

    def _download(self, shipper: LogShipper) -> str | None:
        """Input channels and checkpoints; the failure reason when a channel is missing."""
        channels = self.plan.request.get("inputDataConfig") or []
        if channels:
            try:
                jobdata.download_channels(self.link.objects(), channels, self.paths.input_data_dir)
            except jobdata.DataDownloadError as exc:
                return f"ClientError: Data download failed: {exc}"
        uri = self.plan.checkpoint_uri
        if uri:
            problems: list[str] = []
            jobdata.restore_checkpoints(
                self.link.objects(), uri, self.paths.checkpoint_dir, problems
            )
            self._say_once(shipper, problems)
        return None

    def _prefetch_script(self, spec_path: Path) -> None:
        """Download the script object where the bootstrap looks for it first
        (``original/<basename of its key>``), so the instance's process need not make an
        S3 client of its own (~0.1 s) to fetch it. Any problem is left to the bootstrap,
        which fetches it itself and reports a failure as the job contract says."""
        try:
            from hybridjobs.runners.spec import load_instance_spec

            uri = load_instance_spec(spec_path).script.s3_uri
            if not uri:
                return
            bucket, key = parse_s3_uri(str(uri))
            name = posixpath.basename(key)
            target = self.paths.original_dir / name
            if not name or name in (".", "..") or target.exists():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            self.link.objects().get_to_file(bucket, key, target)
        except Exception:  # the bootstrap tries again and says what went wrong
            log.debug("%s: script not prefetched", self.plan.host, exc_info=True)

    def _watch(self, shipper: LogShipper) -> tuple[int, bool]:
        """Ship output and sync checkpoints until the instance ends or is stopped;
        returns its exit code and whether it was stopped."""
        handle = self.handle
        assert handle is not None
        next_sync = time.monotonic() + self.plan.checkpoint_sync_seconds
        while True:
            code = handle.exit_code()
            if code is not None:
                # Its leftover processes end with it, as in a container.
                stop_all([handle], self.plan.stop_grace_seconds)
                return code, False
            if self._stop.is_set():
                stop_all([handle], self.plan.stop_grace_seconds)
                return handle.exit_code() or 143, True
            self._ship(shipper)
            if time.monotonic() >= next_sync:
                self._sync_checkpoints(shipper)
                next_sync = time.monotonic() + self.plan.checkpoint_sync_seconds
            self._stop.wait(_POLL_SECONDS)

    def _ship(self, shipper: LogShipper, final: bool = False) -> bool:
        """:meth:`LogShipper.ship` to the service's current address."""
        shipper.client = self.link.logs()
        return shipper.ship(final=final)

    def _sync_checkpoints(self, shipper: LogShipper) -> None:
        """Upload new or changed checkpoint files; a file that cannot be uploaded never
        fails the job: its problem is said once in the instance's log."""
        uri = self.plan.checkpoint_uri
        if not uri:
            return
        problems: list[str] = []
        try:
            jobdata.save_checkpoints(
                self.link.objects(), uri, [self.paths.checkpoint_dir], problems
            )
        except Exception as exc:  # a checkpoint never fails the job
            problems.append(f"checkpoints not uploaded: {exc}")
        self._say_once(shipper, problems)

    def _say_once(self, shipper: LogShipper, problems: list[str]) -> None:
        """Say each problem in the instance's log, once in the instance's life."""
        for problem in dict.fromkeys(problems):
            if problem not in self._said:
                self._said.add(problem)
                shipper.say(problem)

    def _finish_shipping(self, shipper: LogShipper) -> None:
        """Ship the last lines, retrying while the service cannot be reached (for up to
        ``_FINAL_SHIP_SECONDS``: a service that restarts meanwhile, even at another
        address, gets them once it has re-attached to this agent)."""
        deadline = time.monotonic() + _FINAL_SHIP_SECONDS
        attempt = 0
        while not self._ship(shipper, final=True):
            if time.monotonic() >= deadline:
                log.error("%s: gave up shipping the last log lines", self.plan.host)
                return
            time.sleep(min(2.0, 0.1 * 2**attempt))
            attempt += 1

    def _upload_results(self) -> bool:
        bucket, key = parse_s3_uri(self.plan.results_uri)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            archive = Path(scratch) / "results.tar.gz"
            jobdata.pack_archive([self.paths.model_dir], archive)
            self.link.objects().put_file(bucket, key, archive)
        return True

    def _failure(self, code: int) -> tuple[str, bool]:
        """The instance's failure text (see :class:`AgentReport`) and whether it was
        killed, as the local supervisor tells them for its processes."""
        try:
            text = self.paths.failure_file.read_text(errors="replace").strip()
        except OSError:
            text = ""
        if text or code == 0:
            return text, False
        if not self.paths.exit_file.exists() and code > 128:
            return f"{self.plan.host} was killed by {_signal_name(code - 128)}", True
        return last_error_line(self.paths.log_file), False


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
