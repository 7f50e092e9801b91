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
   instance succeeded, its results directory as a ``.tar.gz`` at ``plan.results_uri``;
6. returns an :class:`AgentReport` (exit code, failure text).

:meth:`stop` (cancel, max runtime, another instance's failure) ends the instance's whole
process group: SIGTERM, ``stop_grace_seconds``, SIGKILL; the report then says
``stopped`` and no results are uploaded.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs import jobdata
from hybridjobs.agent.logship import LogShipper
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.instanceend import last_error_line
from hybridjobs.objects import ObjectStore, parse_s3_uri
from hybridjobs.runners import contract
from hybridjobs.runners.local import ColdLauncher, InstanceHandle, stop_all

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_FINAL_SHIP_ATTEMPTS = 20


@dataclass(frozen=True)
class AgentReport:
    """How one instance ended. ``failure`` is the instance's failure text (its
    ``output/failure`` file, else its last error line; ``""`` when it succeeded)."""

    host: str
    exit_code: int
    failure: str
    stopped: bool
    results_uploaded: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "exit_code": self.exit_code,
            "failure": self.failure,
            "stopped": self.stopped,
            "results_uploaded": self.results_uploaded,
        }

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> AgentReport:
        return cls(**fields)


class InstanceAgent:
    """Runs the instance of ``plan`` under ``work_dir`` (see the module docstring)."""

    def __init__(
        self,
        plan: AgentPlan,
        work_dir: Path,
        *,
        python: str = sys.executable,
        master_addr: str = "127.0.0.1",
        node_id: str | None = None,
    ) -> None:
        self.plan = plan
        self.work_dir = work_dir
        self.python = python
        self.launch = plan.launch(
            work_dir / plan.job_id,
            python,
            work_dir / "cache" / "requirements",
            master_addr=master_addr,
            node_id=node_id,
        )
        self.paths = contract.instance_paths(self.launch)
        self.handle: InstanceHandle | None = None
        self._stop = threading.Event()

    # -- the whole life -------------------------------------------------------------------

    def run(self) -> AgentReport:
        """Run the instance to its end; never raises for the job's own failures."""
        session = self._session()
        objects = _object_store(self.plan)
        shipper = LogShipper(
            session.client("logs", endpoint_url=self.plan.endpoint_url),
            self.plan.log_group,
            self.plan.log_stream,
            self.paths.log_file,
        )
        paths = contract.prepare_instance_dirs(self.launch)
        env = contract.build_environment(self.launch, paths)
        spec = contract.write_instance_spec(self.launch, paths, env)
        failure = self._download(objects, shipper)
        if failure is not None:
            self._finish_shipping(shipper)
            return AgentReport(self.plan.host, 1, failure, False, False)
        if self._stop.is_set():
            self._finish_shipping(shipper)
            return AgentReport(self.plan.host, 143, "", True, False)
        self.handle = ColdLauncher(self.python, die_with_parent=True).launch(
            self.plan.host,
            spec,
            env,
            paths.instance_dir,
            paths.log_file,
            paths.exit_file,
            self.python,
        )
        code, stopped = self._watch(objects, shipper)
        self._finish_shipping(shipper)
        self._sync_checkpoints(objects, shipper)
        self._finish_shipping(shipper)
        uploaded = False
        if code == 0 and not stopped:
            uploaded = self._upload_results(objects)
        failure = "" if code == 0 else self._failure_text()
        return AgentReport(self.plan.host, code, failure, stopped, uploaded)

    def stop(self) -> None:
        """Ask :meth:`run` to stop the instance (any thread); returns at once."""
        self._stop.set()

    def cleanup(self) -> None:
        """Remove this instance's working directory (after :meth:`run` returned)."""
        shutil.rmtree(self.paths.instance_dir, ignore_errors=True)

    # -- steps ----------------------------------------------------------------------------

    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=self.plan.access_key_id,
            aws_secret_access_key=self.plan.secret_access_key,
            region_name=self.plan.region,
        )

    def _download(self, objects: ObjectStore, shipper: LogShipper) -> str | None:
        """Input channels and checkpoints; the failure reason when a channel is missing."""
        channels = self.plan.request.get("inputDataConfig") or []
        if channels:
            try:
                jobdata.download_channels(objects, channels, self.paths.input_data_dir)
            except jobdata.DataDownloadError as exc:
                return f"ClientError: Data download failed: {exc}"
        uri = self.plan.checkpoint_uri
        if uri:
            problems: list[str] = []
            jobdata.restore_checkpoints(objects, uri, self.paths.checkpoint_dir, problems)
            for problem in problems:
                shipper.say(problem)
        return None

    def _watch(self, objects: ObjectStore, shipper: LogShipper) -> tuple[int, bool]:
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
            shipper.ship()
            if time.monotonic() >= next_sync:
                self._sync_checkpoints(objects, shipper)
                next_sync = time.monotonic() + self.plan.checkpoint_sync_seconds
            self._stop.wait(_POLL_SECONDS)

    def _sync_checkpoints(self, objects: ObjectStore, shipper: LogShipper) -> None:
        uri = self.plan.checkpoint_uri
        if not uri:
            return
        problems: list[str] = []
        try:
            jobdata.save_checkpoints(objects, uri, [self.paths.checkpoint_dir], problems)
        except Exception as exc:  # a checkpoint never fails the job
            problems.append(f"checkpoints not uploaded: {exc}")
        for problem in dict.fromkeys(problems):
            shipper.say(problem)

    def _finish_shipping(self, shipper: LogShipper) -> None:
        """Ship the last lines, retrying while the service cannot be reached."""
        for attempt in range(_FINAL_SHIP_ATTEMPTS):
            if shipper.ship(final=True):
                return
            time.sleep(min(2.0, 0.1 * 2**attempt))
        log.error("%s: gave up shipping the last log lines", self.plan.host)

    def _upload_results(self, objects: ObjectStore) -> bool:
        bucket, key = parse_s3_uri(self.plan.results_uri)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            archive = Path(scratch) / "results.tar.gz"
            jobdata.pack_archive([self.paths.model_dir], archive)
            objects.put_file(bucket, key, archive)
        return True

    def _failure_text(self) -> str:
        try:
            text = self.paths.failure_file.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text or last_error_line(self.paths.log_file)


def _object_store(plan: AgentPlan) -> ObjectStore:
    from hybridjobs.objects.s3 import S3ObjectStore

    return S3ObjectStore(plan.endpoint_url, plan.region, plan.access_key_id, plan.secret_access_key)
