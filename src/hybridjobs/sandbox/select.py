"""Choosing the sandbox at start-up.

``mode`` is ``auto`` (bubblewrap when it works here, else none), ``bwrap`` (bubblewrap or
refuse to start) or ``none``. Running unsandboxed needs ``allow_unsandboxed``; the
settings make that the default only for a loopback-only service without access keys (one
user on one machine: the jobs are that user's own code). :func:`choose_sandbox` tries
bubblewrap once (a namespace with its own ``/proc``), so a host without user namespaces or
privileges is found out at start-up, not at the first job.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.sandbox.box import InstanceBox, NoSandbox, Sandbox
from hybridjobs.sandbox.bwrap import BwrapSandbox, runtime_roots
from hybridjobs.sandbox.cgroups import CgroupRoot, detect_cgroups

MODES = ("auto", "bwrap", "none")


class SandboxUnavailable(RuntimeError):
    """The sandbox asked for cannot run here, and running without it is not allowed."""


@dataclass(frozen=True)
class Confinement:
    """The sandbox and cgroups every local instance of this service starts in, and one
    line saying what they are (logged at start-up, shown in the service's status)."""

    sandbox: Sandbox
    cgroups: CgroupRoot | None
    summary: str
    in_place: bool = False
    """Whether a forked warm-pool instance can make the same sandbox itself
    (:mod:`hybridjobs.sandbox.inplace`; checked at start-up by :func:`probe_in_place`)."""


def probe_bwrap(bwrap: str) -> str | None:
    """``None`` when bubblewrap can make a sandbox here, else why not."""
    argv = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--dev", "/dev"]
    try:
        done = subprocess.run(
            [*argv, "--", "true"], capture_output=True, timeout=30, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
    return None


def probe_in_place(sandbox: BwrapSandbox) -> str | None:
    """``None`` when a process here can make ``sandbox``'s box itself (the warm pool's
    sandboxed starts), else why not: a throw-away instance directory is sandboxed by
    ``python -m hybridjobs.sandbox.inplace``, which checks the sandbox from inside."""
    with tempfile.TemporaryDirectory(prefix="hybridjobs-probe-") as directory:
        box = InstanceBox(name="probe", host="algo-1", instance_dir=Path(directory))
        argv = [sys.executable, "-m", "hybridjobs.sandbox.inplace"]
        try:
            done = subprocess.run(
                [*argv, json.dumps(sandbox.wrap([], box))],
                capture_output=True,
                timeout=60,
                check=False,
                text=True,
                cwd="/",
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
    return None


def choose_sandbox(
    mode: str,
    allow_unsandboxed: bool,
    pythons: Sequence[str],
    hidden: Sequence[Path],
    extra_roots: Sequence[Path] = (),
    *,
    warm_starts: str = "auto",
) -> Confinement:
    """The confinement for ``mode`` (see the module docstring); raises
    :class:`SandboxUnavailable` with the reason and the way out. ``warm_starts``:
    ``in-place`` (forked instances make their sandbox themselves: checked by
    :func:`probe_in_place`, refused when it fails), ``zygotes`` (sandboxed one-shot
    zygotes) or ``auto`` (in place where the check passes)."""
    if mode not in MODES:
        raise SandboxUnavailable(f"unknown sandbox {mode!r}; use one of {', '.join(MODES)}")
    cgroups, cgroup_text = detect_cgroups()
    limits = f"limits: {cgroup_text}" if cgroups else f"no limits ({cgroup_text})"
    problem = "--sandbox none was asked for"
    if mode != "none":
        bwrap = shutil.which("bwrap")
        problem = "bubblewrap (bwrap) is not installed" if bwrap is None else ""
        if bwrap is not None:
            failed = probe_bwrap(bwrap)
            if failed is None:
                roots = runtime_roots(pythons, extra_roots)
                sandbox = BwrapSandbox(bwrap, roots, hidden)
                unable = probe_in_place(sandbox) if warm_starts != "zygotes" else "not chosen"
                if unable is not None and warm_starts == "in-place":
                    raise SandboxUnavailable(
                        f"warm starts cannot make their sandbox in place here: {unable}. "
                        "Use --sandbox-warm-starts zygotes or auto."
                    )
                warm = (
                    "warm starts sandbox themselves"
                    if unable is None
                    else (f"warm starts cannot sandbox themselves ({unable})")
                )
                summary = f"sandbox: bubblewrap; {warm}; {limits}"
                return Confinement(sandbox, cgroups, summary, in_place=unable is None)
            problem = f"bubblewrap cannot make a sandbox here: {failed}"
    if mode == "bwrap" or not allow_unsandboxed:
        raise SandboxUnavailable(
            f"jobs cannot be sandboxed: {problem}. Install bubblewrap (Debian: apt-get "
            "install bubblewrap) and run where it may create namespaces, or start with "
            "--allow-unsandboxed to run every job's code with this service's view of the "
            "host (see docs/security.md)."
        )
    return Confinement(NoSandbox(), cgroups, f"sandbox: none ({problem}); {limits}")
