"""What runs inside every instance process: the local twin of Braket's ``braket_container.py``.

Two ways in, same behaviour:

* ``python -m hybridjobs.bootstrap SPEC_JSON`` (cold start: the runner gives the process
  the spec's environment, the instance directory as cwd, its own session, and the log file
  as stdout/stderr);
* :func:`run_instance` called in a freshly forked child (warm pool). It relies on no
  module state: it replaces ``os.environ`` with the spec's environment (keeping only
  MPI launcher variables), changes directory, sets ``sys.argv`` and ``sys.path`` itself.

Steps (spec §4.4): print ``Beginning Setup``; fetch the script object into
``code/customer_code/original/``; unpack it into ``extracted/`` (compression ``GZIP``/``ZIP``
or archive content) or copy the single file there; install every ``requirements.txt``
(cached by content hash); put ``extracted/`` first on ``sys.path`` and make it the cwd;
print ``Running Code As Process``; run the entry point in this process (``module:func`` is
imported and called with the hyperparameters bound by annotation; ``module`` runs like
``python -m module``); print ``Code Run Finished``. The setup steps (fetch, unpack,
requirements, ``sys.path``) live in :mod:`hybridjobs.instancecode`.

Failures go to ``output/failure`` with the container's texts (an unexpected setup error
reads ``Setup failed.\nException: …``). Unlike the container, which exits 0 after a setup
failure, the bootstrap exits 1 so the job fails visibly. An uncaught
exception appends ``Type: message``, prints the traceback and exits 1; ``SystemExit(n)``
exits ``n`` and, when the failure file is still empty, records the toolkit's
``ExecuteUserScriptError`` text. The exit code is also written to ``exit_code`` (except
under MPI, where the launcher's exit code is the one that counts).

Ending, as a container does: an entry point that returns while non-daemon threads still
run keeps the instance alive until they end (as Python does), and the log says which
threads it waits for. When the process ends (after those threads and the ``atexit``
handlers), every other process of its process group ends too (:func:`end_process_group`:
SIGTERM, a short grace, SIGKILL), so a child the job left behind does not outlive it. Only
a process that leads its group does this (a cold instance and a forked one each lead a
session of their own); children that left the group (``setsid``) are not covered.

Imports stay light: the standard library, the spec loader, and (only when needed) the
archive and object-store modules; boto3 only for S3-backed objects.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import io
import json
import os
import runpy
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hybridjobs.inputlinks import adapt_input_links
from hybridjobs.instancecode import SetupFailure, activate, say, set_up_code
from hybridjobs.instanceend import end_process_group, end_the_user_line, non_daemon_threads
from hybridjobs.runners.spec import USER_ENTRY_POINT, InstanceSpec, load_instance_spec

MPI_PREFIXES = ("OMPI_", "PMIX_", "OPAL_", "PMI_", "HYDRA_", "I_MPI_")
"""Variables an MPI launcher sets per rank; they survive the switch to the spec's env."""

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


def main(argv: list[str] | None = None) -> int:
    """``python -m hybridjobs.bootstrap SPEC_JSON``: run the instance, return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hybridjobs.bootstrap SPEC_JSON", file=sys.stderr)
        return 2
    return run_instance(Path(args[0]))


def process_main() -> int:
    """:func:`main` as the instance's own process (``python -m``): the process group ends
    with the process (see :func:`end_process_group`). Registered before the job's code
    runs, so the ``atexit`` handlers the job registers run first."""
    atexit.register(end_process_group)
    return main()


def run_instance(spec_path: Path) -> int:
    """Set up and run one instance in this process; return its exit code.

    Changes this process's environment, cwd, ``sys.argv`` and ``sys.path`` (so call it
    in a process of its own: the ``-m`` entry point, or a forked child that then calls
    ``os._exit`` with the result). stdout and stderr are flushed before returning.
    """
    spec = load_instance_spec(Path(spec_path).absolute())
    mpi = _enter_instance(spec)
    try:
        code = _run(spec, mpi)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if not mpi:
        _write_exit_file(spec.paths.exit_file, code)
    waiting = non_daemon_threads()
    if waiting:
        print(
            "hybridjobs: the entry point returned; waiting for non-daemon threads: "
            f"{', '.join(waiting)} (the instance ends when they do)",
            file=sys.stderr,
            flush=True,
        )
    return code


def _enter_instance(spec: InstanceSpec) -> bool:
    """Adopt the spec's environment, cwd and argv; return whether an MPI launcher started us."""
    launcher = {k: v for k, v in os.environ.items() if k.startswith(MPI_PREFIXES)}
    os.environ.clear()
    os.environ.update(spec.env)
    os.environ.update(launcher)
    instance_dir = spec.paths.instance_dir
    os.chdir(instance_dir)
    sys.argv = [USER_ENTRY_POINT, *spec.argv]
    sys.path[:] = [p for p in sys.path if p not in ("", ".", str(instance_dir))]
    sys.dont_write_bytecode = bool(spec.env.get("PYTHONDONTWRITEBYTECODE"))
    mpi = "OMPI_COMM_WORLD_SIZE" in launcher or "OMPI_COMM_WORLD_RANK" in launcher
    if mpi:
        _reopen_stdio(line_buffered=True)
    elif spec.env.get("PYTHONUNBUFFERED") and not isinstance(
        getattr(sys.stdout, "buffer", None), io.RawIOBase
    ):
        _reopen_stdio(line_buffered=False)
    return mpi


def _reopen_stdio(line_buffered: bool) -> None:
    """Put new text streams on fds 1 and 2.

    Unbuffered: what ``python -u`` does (raw, write-through), for a forked child whose
    interpreter started with buffered streams. Line-buffered, for a rank under
    ``mpirun --tag-output``: each ``print`` reaches the fd as one write, text and newline
    together. mpirun tags every chunk it reads, so ``python -u``'s separate write of the
    newline would leave a stray ``[1,0]<stdout>:`` at the end of the line.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        binary = open(  # noqa: SIM115 - lives with the process
            fd, "wb", buffering=-1 if line_buffered else 0, closefd=False
        )
        wrapper = io.TextIOWrapper(
            binary,
            encoding=getattr(stream, "encoding", None) or "utf-8",
            errors="backslashreplace",
            line_buffering=line_buffered,
            write_through=not line_buffered,
        )
        setattr(sys, name, wrapper)


def _run(spec: InstanceSpec, mpi: bool) -> int:
    say(_preamble(spec))
    say("Beginning Setup")
    try:
        entry_point = _entry_point(spec)
        requirement_dirs = set_up_code(spec)
    except Exception as exc:
        text = str(exc) if isinstance(exc, SetupFailure) else f"Setup failed.\nException: {exc!r}"
        _log_failure(spec, text)
        say(text)
        say("Reporting training FAILURE")
        return 1
    activate(spec, requirement_dirs)
    if mpi:
        say("MPI is active - running customer code in-process (no fork)")
    else:
        say("Running Code As Process")
    code = _call_entry_point(spec, entry_point)
    end_the_user_line()
    say("Code Run Finished")
    failed = code != 0 or _has_failure(spec)
    say("Reporting training FAILURE" if failed else "Reporting training SUCCESS")
    return code


def _preamble(spec: InstanceSpec) -> str:
    """The toolkit's start-up lines, which the SDK's integration tests look for in logs."""
    try:
        training_env = json.dumps(json.loads(spec.env["SM_TRAINING_ENV"]), indent=4, sort_keys=True)
    except (KeyError, ValueError):
        training_env = "{}"
    command = " ".join([sys.executable, USER_ENTRY_POINT, *spec.argv])
    return (
        f"Training Env:\n\n{training_env}\n\n"
        f"Invoking script with the following command:\n\n{command}\n"
    )


# -- setup -------------------------------------------------------------------------------


def _entry_point(spec: InstanceSpec) -> str:
    if not spec.script.s3_uri:
        raise SetupFailure("No customer script specified")
    if not spec.script.entry_point:
        raise SetupFailure("No customer entry point specified")
    return spec.script.entry_point


def _call_entry_point(spec: InstanceSpec, entry_point: str) -> int:
    """Run the entry point and turn its outcome into an exit code (see module docstring)."""
    try:
        function = _load_entry_point(entry_point)
        function(**_bind_hyperparameters(function, spec))
    except SystemExit as exc:
        code = _exit_status(exc)
        if code != 0 and not _has_failure(spec):
            # sys.exit("text") printed text to stderr: that is the toolkit's ErrorMessage.
            message = "" if isinstance(exc.code, int) or exc.code is None else str(exc.code)
            _log_failure(
                spec,
                f'ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{message}"\n'
                f'Command "{" ".join([sys.executable, USER_ENTRY_POINT, *spec.argv])}"',
            )
        return code
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except Exception as exc:
        message = str(exc)
        _log_failure(spec, f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # skip our own frame
        traceback.print_exception(type(exc), exc, tb)
        return 1
    return 0


def _load_entry_point(entry_point: str) -> Callable[..., Any]:
    """``module:attr`` imports ``module`` and returns ``attr`` (dots walk attributes);
    ``module`` returns a no-argument function that runs it like ``python -m module``."""
    module_name, colon, attribute = entry_point.partition(":")
    if not colon:

        def run_module() -> None:
            runpy.run_module(module_name, run_name="__main__", alter_sys=True)

        return run_module
    module = importlib.import_module(module_name)
    if os.environ.get("SAGEMAKER_BASE_DIR") != "/opt/ml":
        adapt_input_links(module)  # on the host; a sandbox is the container it expects
    target: Any = functools.reduce(getattr, attribute.split("."), module)
    if not callable(target):
        raise TypeError(f"entry point {entry_point!r} is not callable")
    function: Callable[..., Any] = target
    return function


def _bind_hyperparameters(function: Callable[..., Any], spec: InstanceSpec) -> dict[str, Any]:
    """Keyword arguments for ``function`` from the hyperparameters file (spec §4.4 item 7).

    When ``AMZN_BRAKET_HP_FILE`` is set and ``signature.bind(**hps)`` succeeds, each value
    is converted by its parameter's annotation: ``int``/``float``/``str`` and any other
    callable annotation are applied to the string (as the container does); ``bool`` is
    parsed (``true/1/yes/on`` and ``false/0/no/off``) rather than ``bool("False") == True``.
    Otherwise the function is called with no arguments.
    """
    hp_file = spec.env.get("AMZN_BRAKET_HP_FILE")
    if not hp_file:
        return {}
    try:
        hyperparameters = json.loads(Path(hp_file).read_text())
        signature = inspect.signature(function)
        signature.bind(**hyperparameters)
    except (OSError, ValueError, TypeError):
        return {}
    annotations = _annotations(function)
    return {name: _convert(annotations.get(name), value) for name, value in hyperparameters.items()}


def _annotations(function: Callable[..., Any]) -> Mapping[str, Any]:
    try:
        return inspect.get_annotations(function, eval_str=True)
    except Exception:
        try:
            return inspect.get_annotations(function)
        except Exception:
            return {}


_NAMED_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool}


def _convert(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, str):
        annotation = _NAMED_TYPES.get(annotation.strip())
    if annotation is None or annotation is str or not isinstance(value, str):
        return value
    if annotation is bool:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"cannot convert {value!r} to bool")
    if callable(annotation):
        return annotation(value)
    return value


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


# -- records -----------------------------------------------------------------------------


def _log_failure(spec: InstanceSpec, text: str) -> None:
    """Append ``text`` to the failure file (as the container does, without a newline), in
    the job's terms: paths of this host's instance directory become the container's."""
    failure = spec.paths.failure_file
    failure.parent.mkdir(parents=True, exist_ok=True)
    with open(failure, "a", encoding="utf-8") as out:
        out.write(_in_container_terms(spec, text))


def _in_container_terms(spec: InstanceSpec, text: str) -> str:
    """``text`` with this host's instance paths written as the job sees them: the
    instance directory is ``/opt/ml``, and ``_root/<path>`` under it is ``/<path>``."""
    instance = str(spec.paths.instance_dir)
    return text.replace(instance + "/_root/", "/").replace(instance, "/opt/ml")


def _has_failure(spec: InstanceSpec) -> bool:
    try:
        return spec.paths.failure_file.stat().st_size > 0
    except OSError:
        return False


def _write_exit_file(path: Path, code: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(f"{code}\n")
        os.replace(staging, path)
    except OSError as exc:
        print(f"hybridjobs: could not write {path}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(process_main())
