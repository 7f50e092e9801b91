"""The bootstrap's input: the ``spec.json`` each instance directory holds.

Written by :func:`hybridjobs.runners.contract.write_instance_spec` on the service side and
read here by the bootstrap inside the instance, so this module stays small and imports
only the standard library (it is on every job's start path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SPEC_VERSION = 1
USER_ENTRY_POINT = "braket_container.py"


@dataclass(frozen=True)
class ScriptSpec:
    """Where the user's code is and how to start it (``None``: not given)."""

    s3_uri: str | None
    entry_point: str | None
    compression_type: str | None


@dataclass(frozen=True)
class SpecPaths:
    """The instance paths the bootstrap needs."""

    instance_dir: Path
    original_dir: Path
    extracted_dir: Path
    failure_file: Path
    results_dir: Path
    checkpoint_dir: Path
    hyperparameters_file: Path
    exit_file: Path


@dataclass(frozen=True)
class InstanceSpec:
    """The bootstrap's input, as written to ``algo-N/spec.json`` (see write_instance_spec)."""

    job_arn: str
    job_name: str
    host: str
    env: dict[str, str]
    paths: SpecPaths
    script: ScriptSpec
    objects: dict[str, str]
    requirements_cache_dir: Path
    hyperparameters: dict[str, str]
    argv: list[str] = field(default_factory=list)
    version: int = SPEC_VERSION
    archive_limits: dict[str, float] = field(default_factory=dict)
    """Limits on the code archive (``hybridjobs.archives.ArchiveLimits`` fields); empty:
    the defaults."""


def load_instance_spec(path: Path) -> InstanceSpec:
    """Read a spec written by :func:`write_instance_spec`; ``ValueError`` if malformed."""
    with open(path, encoding="utf-8") as src:
        document = json.load(src)
    try:
        if document["version"] != SPEC_VERSION:
            raise ValueError(f"unsupported spec version {document['version']!r}")
        paths = {name: Path(value) for name, value in document["paths"].items()}
        script = document["script"]
        return InstanceSpec(
            job_arn=str(document["job_arn"]),
            job_name=str(document["job_name"]),
            host=str(document["host"]),
            env={str(k): str(v) for k, v in document["env"].items()},
            paths=SpecPaths(**paths),
            script=ScriptSpec(
                s3_uri=script.get("s3_uri"),
                entry_point=script.get("entry_point"),
                compression_type=script.get("compression_type"),
            ),
            objects={str(k): str(v) for k, v in document["objects"].items()},
            requirements_cache_dir=Path(document["requirements_cache_dir"]),
            hyperparameters={str(k): str(v) for k, v in document["hyperparameters"].items()},
            argv=[str(arg) for arg in document.get("argv", [])],
            archive_limits={
                str(k): float(v) for k, v in document.get("archive_limits", {}).items()
            },
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed instance spec {path}: {exc!r}") from exc
