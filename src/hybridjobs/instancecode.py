"""Setting up the customer's code inside an instance (the setup half of :mod:`hybridjobs.bootstrap`).

Fetch the script object into ``code/customer_code/original/``, unpack it into ``extracted/``
(compression ``GZIP``/``ZIP`` or archive content) or copy the single file there, install every
``requirements.txt`` (cached by content hash, under file locks), then put ``extracted/`` and the
requirement directories on ``sys.path`` and make ``extracted/`` the cwd (:func:`activate`).
Every expected failure is a :class:`SetupFailure` whose message is the failure file's text.

Stdlib-only like the bootstrap (it runs inside the instance, possibly in a sandbox that sees
only the package directory); the archive and object-store modules are imported when needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hybridjobs import reqcache
from hybridjobs.runners.spec import InstanceSpec

_SETUP_MARKER = ".setup-complete"
_CACHE_MARKER = reqcache.MARKER
_CONSTRAINTS_FILE = "hybridjobs-constraints.txt"  # see hybridjobs.environments.build


class SetupFailure(Exception):
    """Setup could not complete; the message is the failure file's text."""


def say(text: str) -> None:
    """Print one line of the instance's log, flushed."""
    print(text, flush=True)


def set_up_code(spec: InstanceSpec) -> list[Path]:
    """Download, unpack and install requirements once per instance directory.

    Several processes may share an instance directory (MPI ranks), so the work runs under
    a file lock and leaves a marker listing the requirement directories for the others.
    """
    customer_code = spec.paths.extracted_dir.parent
    customer_code.mkdir(parents=True, exist_ok=True)
    marker = customer_code / _SETUP_MARKER
    with _locked(customer_code / ".setup.lock"):
        if marker.exists():
            dirs = [Path(p) for p in json.loads(marker.read_text())["requirement_dirs"]]
            if all(reqcache.use(d) for d in dirs):
                return dirs  # held by this process too (see hybridjobs.reqcache)
        else:
            local_file = _download(spec)
            _unpack(spec, local_file)
        dirs = _install_all_requirements(spec)
        marker.write_text(json.dumps({"requirement_dirs": [str(d) for d in dirs]}))
        return dirs


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(spec: InstanceSpec) -> Path:
    """Fetch the script object to ``original/<basename of its key>``."""
    uri = str(spec.script.s3_uri)
    try:
        from hybridjobs.objects import open_object_store, parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        name = posixpath.basename(key)
        if not name or name in (".", ".."):
            raise ValueError(f"S3 URI names no object: {uri}")
        target = spec.paths.original_dir / name
        if not target.exists():
            open_object_store(spec.objects).get_to_file(bucket, key, target)
    except Exception as exc:
        raise SetupFailure(f"Unable to download code.\nException: {exc}") from exc
    return target


def _unpack(spec: InstanceSpec, local_file: Path) -> None:
    """Extract an archive into ``extracted/``, or copy a single file there."""
    from hybridjobs.archives import ArchiveError, extract_archive, is_archive, limits_from

    compression = spec.script.compression_type
    extracted = spec.paths.extracted_dir
    extracted.mkdir(parents=True, exist_ok=True)
    if (compression or "").strip().lower() in ("gzip", "zip") or is_archive(local_file):
        try:
            extract_archive(local_file, extracted, limits_from(spec.archive_limits))
        except ArchiveError as exc:
            raise SetupFailure(
                f"Got an exception while trying to unpack archive: {spec.script.s3_uri} of "
                f"type: {compression}.\nException: {exc}"
            ) from exc
    else:
        shutil.copy(local_file, extracted)


def _install_all_requirements(spec: InstanceSpec) -> list[Path]:
    """Install every ``requirements.txt`` under ``extracted/`` (walk order, sorted)."""
    say("Checking for Additional Requirements")
    dirs: list[Path] = []
    for root, subdirs, files in os.walk(spec.paths.extracted_dir):
        subdirs.sort()
        if "requirements.txt" in files:
            installed = _install_requirements(spec, Path(root, "requirements.txt"))
            if installed is not None:
                dirs.append(installed)
    say("Additional Requirements Check Finished")
    return dirs


def _has_requirements(text: str) -> bool:
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())


def _install_requirements(spec: InstanceSpec, requirements: Path) -> Path | None:
    """``pip install --target CACHE/<sha256 of the file>``, shared by every job.

    A directory counts only once it holds the completion marker. pip installs into a
    temporary sibling that is renamed into place under a per-hash file lock, so two
    instances never install the same hash at once and a crash leaves no half directory.
    A file without requirements (only comments) installs nothing and returns None.
    Relative paths in the file are taken from ``extracted/`` (the container's cwd).
    """
    content = requirements.read_bytes()
    if not _has_requirements(content.decode("utf-8", "replace")):
        return None
    digest = hashlib.sha256(content).hexdigest()
    cache = spec.requirements_cache_dir
    target = cache / digest
    if reqcache.use(target):
        say(f"Using cached requirements for {requirements.name} ({digest[:12]})")
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with reqcache.exclusive(reqcache.lock_path(target)):
            if not (target / _CACHE_MARKER).exists():
                _install_entry(spec, requirements, target)
        if not reqcache.use(target):  # held for as long as this process runs
            raise SetupFailure(f"the cached requirements {digest[:12]} went while installing")
    except SetupFailure:
        raise
    except Exception as exc:
        raise SetupFailure(f"Unable to install requirements.\nException: {exc}") from exc
    return target


def _install_entry(spec: InstanceSpec, requirements: Path, target: Path) -> None:
    """Install into a temporary sibling of ``target``, then rename it into place. The
    caller holds the entry's exclusive lock."""
    shutil.rmtree(target, ignore_errors=True)
    prefix = f".{target.name[:12]}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        _pip_install(spec, requirements, staging)
        (staging / _CACHE_MARKER).write_text(str(requirements) + "\n")
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pip_install(spec: InstanceSpec, requirements: Path, target: Path) -> None:
    """pip into ``target``; in an environment built from an image's spec, constrained to
    its frozen packages (``hybridjobs-constraints.txt`` beside the interpreter's prefix),
    so a job cannot move the image's pins: a conflict fails with pip's message."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    constraints = Path(sys.prefix) / _CONSTRAINTS_FILE
    if constraints.is_file():
        command += ["-c", str(constraints)]
        say(f"Installing with the image's pins ({constraints})")
    sys.stdout.flush()
    result = subprocess.run(
        command,
        cwd=spec.paths.extracted_dir,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
        raise SetupFailure(
            "Unable to install requirements.\nException: "
            f"pip exited with code {result.returncode} installing {requirements}"
            + ("\n" + "\n".join(errors[-10:]) if errors else "")
        )


def activate(spec: InstanceSpec, requirement_dirs: list[Path]) -> None:
    """``extracted/`` first on sys.path, then the requirement dirs; cwd = ``extracted/``."""
    for directory in reversed(requirement_dirs):
        sys.path.insert(0, str(directory))
    if requirement_dirs:
        existing = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(d) for d in requirement_dirs] + ([existing] if existing else [])
        )
    sys.path.insert(0, str(spec.paths.extracted_dir))
    os.chdir(spec.paths.extracted_dir)
    _adopt_instance_paths(spec)
    importlib.invalidate_caches()


def _adopt_instance_paths(spec: InstanceSpec) -> None:
    """What the instance's environment adds to an interpreter that may have started
    without it (a forked warm instance): the ``HYBRIDJOBS_INSTANCE_PATHS`` directories
    (the smdistributed shim) on ``sys.path``, and the GPU CPU-twin hook when
    ``HYBRIDJOBS_GPU_TWINS`` is set."""
    extra = [p for p in spec.env.get("HYBRIDJOBS_INSTANCE_PATHS", "").split(os.pathsep) if p]
    for directory in extra:
        if directory not in sys.path:
            sys.path.insert(1, directory)
    if spec.env.get("HYBRIDJOBS_GPU_TWINS"):
        from hybridjobs.gputwins import install_twins

        install_twins()


# -- the user's code ---------------------------------------------------------------------
