"""Building an environment with uv, once: ``uv venv`` + ``uv pip install``, cached.

An environment ``ROOT`` is built into a staging directory next to it and renamed into
place, under a file lock, so concurrent jobs build it once and a crash leaves no half
environment. A built environment holds:

* ``ROOT/requirements.txt``: what it was built from (a change rebuilds it);
* ``ROOT/hybridjobs-constraints.txt``: its frozen package list (``uv pip freeze``), the
  constraints every job ``requirements.txt`` is installed with, so a job cannot move the
  image's pins (see :mod:`hybridjobs.bootstrap`);
* ``ROOT/.hybridjobs-built``: JSON ``{"seconds": build time, "requirements_sha256": …}``.

Installs try uv's cache alone first (``--offline``), so a rebuild needs no network once
the packages were downloaded; only when that fails does uv go to the index.

A build can be given up: ``cancelled`` (asked every quarter second while uv runs or while
another process holds the build's lock) ends uv's whole process group, removes the
staging directory and raises :class:`BuildCancelled`; the next use builds again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hybridjobs.environments.catalog import Environment

BUILT_MARKER = ".hybridjobs-built"
CONSTRAINTS_FILE = "hybridjobs-constraints.txt"
BUILD_TIMEOUT_SECONDS = 1800.0
CANCEL_POLL_SECONDS = 0.25


class EnvironmentBuildError(Exception):
    """uv could not build the environment; the message ends with uv's own output."""


class BuildCancelled(Exception):
    """The build was given up because its ``cancelled`` said so (nothing was installed)."""


Cancelled = Callable[[], bool]
"""Asked while a build runs: ``True`` gives the build up (:class:`BuildCancelled`)."""


def _never() -> bool:
    return False


def uv_binary() -> str:
    """The uv executable: the ``uv`` package's, else ``uv`` on ``PATH``."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        return found


def is_built(env: Environment) -> bool:
    """Whether ``env`` is built from its current requirements (service/python: always)."""
    if env.kind != "spec" or env.root is None:
        return True
    try:
        marker = json.loads((env.root / BUILT_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker.get("requirements_sha256") == _digest(env.requirements))


def build_info(env: Environment) -> dict[str, float]:
    """What the marker recorded (``seconds``); empty when not built."""
    if env.root is None:
        return {}
    try:
        marker = json.loads((env.root / BUILT_MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return {"seconds": float(marker.get("seconds", 0.0))}


def ensure_built(
    env: Environment,
    base_python: str,
    uv_cache: Path | None = None,
    cancelled: Cancelled = _never,
) -> str:
    """Build ``env`` unless it is built already; return its interpreter.

    ``base_python`` is the interpreter the virtualenv is made from; ``uv_cache`` is uv's
    cache directory (``None``: uv's default). ``EnvironmentBuildError`` with uv's message
    when a step fails; :class:`BuildCancelled` once ``cancelled()`` is true while it
    builds or waits for another build of ``env``.
    """
    if is_built(env):
        return env.python
    assert env.root is not None
    env.root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(env.root.parent / f".{env.name}.lock", cancelled):
        if is_built(env):
            return env.python
        started = time.monotonic()
        staging = env.root.parent / f".{env.name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _build(env, staging, base_python, uv_cache, cancelled)
            seconds = time.monotonic() - started
            marker = {
                "seconds": round(seconds, 3),
                "requirements_sha256": _digest(env.requirements),
            }
            (staging / BUILT_MARKER).write_text(json.dumps(marker) + "\n")
            shutil.rmtree(env.root, ignore_errors=True)
            os.rename(staging, env.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return env.python


def _build(
    env: Environment,
    target: Path,
    base_python: str,
    uv_cache: Path | None,
    cancelled: Cancelled,
) -> None:
    """``uv venv`` at ``target`` (relocated to ``env.root`` by the caller), install the
    requirements, freeze them.

    The virtualenv is created at its final path's name (``--relocatable``) so the rename
    keeps its scripts working."""
    uv = uv_binary()
    environ = {**os.environ, "VIRTUAL_ENV": ""}
    if uv_cache is not None:
        environ["UV_CACHE_DIR"] = str(uv_cache)
    _run(
        [uv, "venv", "--quiet", "--seed", "--relocatable", "--python", base_python, str(target)],
        environ,
        cancelled,
    )
    requirements = target / "requirements.txt"
    requirements.write_text(env.requirements)
    python = str(target / "bin" / "python")
    install = [uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements)]
    try:
        _run([*install, "--offline"], environ, cancelled)
    except EnvironmentBuildError:
        _run(install, environ, cancelled)
    frozen = _run([uv, "pip", "freeze", "--python", python], environ, cancelled)
    (target / CONSTRAINTS_FILE).write_text(frozen)


def _run(command: list[str], environ: dict[str, str], cancelled: Cancelled) -> str:
    """Run one uv step in a process group of its own; its stdout. Ends the group when
    ``cancelled()`` turns true (:class:`BuildCancelled`) or the step outlives
    :data:`BUILD_TIMEOUT_SECONDS` (:class:`EnvironmentBuildError`)."""
    step = f"uv {' '.join(command[1:3])}"
    process = subprocess.Popen(
        command,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + BUILD_TIMEOUT_SECONDS
    while True:
        try:
            stdout, stderr = process.communicate(timeout=CANCEL_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            given_up = cancelled()
            if given_up or time.monotonic() > deadline:
                _end_group(process)
                if given_up:
                    raise BuildCancelled(f"{step} was cancelled") from None
                raise EnvironmentBuildError(
                    f"{step} did not finish in {BUILD_TIMEOUT_SECONDS:.0f} s"
                ) from None
    if process.returncode != 0:
        tail = (stderr or stdout).strip()[-4000:]
        raise EnvironmentBuildError(f"{step} failed: {tail}")
    return stdout


def _end_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the step's whole process group (uv and the build backends it started) and
    reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def disk_bytes(path: Path) -> int:
    """Bytes the files under ``path`` take (hard links to uv's cache counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                stat = os.lstat(os.path.join(root, name))
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_blocks * 512
    return total


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path, cancelled: Cancelled) -> Iterator[None]:
    """Hold the build's lock (waiting for another build of it meanwhile, unless
    ``cancelled()`` turns true: :class:`BuildCancelled`)."""
    with open(lock_path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancelled():
                    raise BuildCancelled("cancelled while another build ran") from None
                time.sleep(CANCEL_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
