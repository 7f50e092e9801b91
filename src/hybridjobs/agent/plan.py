"""What an instance agent is told: everything to run one instance on any machine.

A plan is plain JSON, so a runner can hand it to a process or a Ray actor on another
machine. It holds the job's request and identity, the service's address and the job's
credentials (the instance reaches the service only through its AWS surfaces), and where
the instance's log stream, checkpoints and results go. What depends on the machine (the
working directory, the interpreter, algo-1's address) is filled in there, by
:meth:`AgentPlan.launch`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.runners.contract import InstanceLaunch, instance_paths
from hybridjobs.sandbox.setup import SandboxPolicy


@dataclass(frozen=True)
class AgentPlan:
    """One instance's plan. ``results_uri`` is the ``s3://`` object this instance's
    results directory is uploaded to (as a ``.tar.gz``) when it ends; the service packs
    the job's ``model.tar.gz`` from those of all instances."""

    job_arn: str
    job_name: str
    job_id: str
    request: dict[str, Any]
    host_index: int
    hosts: list[str]
    region: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    job_token: str
    master_port: int
    instance_resources: tuple[int, float, int]
    log_group: str
    log_stream: str
    results_uri: str
    checkpoint_sync_seconds: float = 10.0
    stop_grace_seconds: float = 30.0
    session_token: str = ""
    """The session token of the job's own credentials."""
    sandbox_mode: str = "none"
    """The service's sandbox settings (see :class:`hybridjobs.sandbox.setup.SandboxPolicy`;
    a plan written before they travelled runs unsandboxed, as it did)."""
    sandbox_allow_unsandboxed: bool = True
    sandbox_warm_starts: str = "auto"
    sandbox_pids_max: int = 4096
    archive_limits: dict[str, float] | None = None
    """The service's limits on code archives (``hybridjobs.archives.ArchiveLimits`` field
    names; ``None``: the defaults), as a local instance gets them."""
    image_uri: str = ""
    """The job's container image (empty: none)."""
    environment: dict[str, str] = field(default_factory=dict)
    """The image's environment as the service resolved it
    (:func:`hybridjobs.environments.nodes.plan_environment`); the node finds or builds its
    interpreter (empty: the node's own interpreter)."""
    gpu_twins: bool = False
    """A GPU instance type run on CPU (``--gpu-cpu-twins``, no GPU in the cluster): the
    instance gets ``HYBRIDJOBS_GPU_TWINS=1`` and no GPU."""

    @property
    def host(self) -> str:
        """``algo-N``."""
        return self.hosts[self.host_index - 1]

    @property
    def sandbox_policy(self) -> SandboxPolicy:
        """What the service asks of the node about sandboxing this instance."""
        return SandboxPolicy(
            self.sandbox_mode,
            self.sandbox_allow_unsandboxed,
            self.sandbox_warm_starts,
            self.sandbox_pids_max,
        )

    @property
    def checkpoint_uri(self) -> str | None:
        uri = (self.request.get("checkpointConfig") or {}).get("s3Uri")
        return str(uri) if uri else None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AgentPlan:
        fields = json.loads(text)
        fields["instance_resources"] = tuple(fields["instance_resources"])
        return cls(**fields)

    def job_dir(self, work_dir: Path) -> Path:
        """Where the instance's files lie under an agent's ``work_dir``:
        ``work_dir/<job id>`` (its instance directory is ``instances/algo-N`` in there)."""
        return work_dir / self.job_id

    def instance_dir(self, work_dir: Path) -> Path:
        """The instance's directory (its ``/opt/ml``) under an agent's ``work_dir``."""
        launch = self.launch(self.job_dir(work_dir), "python", work_dir, master_addr="")
        return instance_paths(launch).instance_dir

    def launch(
        self,
        job_dir: Path,
        python: str,
        requirements_cache_dir: Path,
        *,
        master_addr: str,
        node_id: str | None = None,
        visible_gpus: str | None = None,
    ) -> InstanceLaunch:
        """The instance's launch description on this machine. The script is fetched
        through the service's S3 surface with the job's credentials.

        The instance sees the job contract's environment, as a local instance does, plus
        ``HYBRIDJOBS_NODE_ID`` (``node_id``: the cluster node it runs on). ``MASTER_ADDR``,
        algo-1's machine, is set only when the job asks for data parallelism, as
        everywhere. ``visible_gpus`` is its ``CUDA_VISIBLE_DEVICES`` (the GPUs the node
        gave it; ``None``: not set); a GPU type on CPU twins gets ``HYBRIDJOBS_GPU_TWINS``."""
        return InstanceLaunch(
            job_arn=self.job_arn,
            job_name=self.job_name,
            job_id=self.job_id,
            request=self.request,
            host_index=self.host_index,
            hosts=list(self.hosts),
            job_dir=job_dir,
            region=self.region,
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            session_token=self.session_token,
            job_token=self.job_token,
            master_port=self.master_port,
            python=python,
            instance_resources=self.instance_resources,
            objects={"kind": "s3", "endpoint_url": self.endpoint_url, "region": self.region},
            requirements_cache_dir=requirements_cache_dir,
            master_addr=master_addr,
            node_id=node_id,
            visible_gpus=visible_gpus,
            gpu_twins=self.gpu_twins,
            archive_limits=self.archive_limits,
        )
