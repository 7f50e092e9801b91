"""Exit codes of the ``hybridjobs`` CLI and the one place where errors become them.

Every command handler either returns an exit code or raises. :func:`run_handler` turns
whatever it raises into ONE readable line on stderr (``error: <Code>: <message>``) and the
documented exit code; no traceback ever reaches the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

OK = 0
JOB_FAILED = 1
USAGE = 2
SERVICE_ERROR = 3
UNREACHABLE = 4
INTERRUPTED = 130

DEBUG_ENV = "HYBRIDJOBS_DEBUG"

EXIT_CODES_HELP = """\
exit codes:
  0    success (for run/demo: the job COMPLETED)
  1    the job FAILED or was CANCELLED (run/demo), or the job or quantum task has no
       results yet (results, tasks results)
  2    usage error (bad arguments, an ambiguous job or device name, a bad TASK)
  3    the service answered with an error (printed as `error: <AWS code>: <message>`)
  4    the service cannot be reached at the endpoint
  130  interrupted (Ctrl-C)"""


class CliError(Exception):
    """An error the CLI reports as one line: ``error: [<code>: ]<message>``."""

    def __init__(self, message: str, exit_code: int = SERVICE_ERROR, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code

    def line(self) -> str:
        return f"error: {self.code}: {self.message}" if self.code else f"error: {self.message}"


class UsageError(CliError):
    """Bad arguments (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=USAGE)


def as_cli_error(exc: BaseException, endpoint: str | None = None) -> CliError | None:
    """The :class:`CliError` for an exception botocore raised, or None if it is not one."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoRegionError,
        ParamValidationError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "UnknownError")
        message = str(error.get("Message") or exc)
        return CliError(" ".join(message.split()), SERVICE_ERROR, code)
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ConnectTimeoutError):
        where = endpoint or getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return CliError(
            f"cannot reach hybridjobs at {where}: start it with `hybridjobs serve` "
            "or point --endpoint / HYBRIDJOBS_ENDPOINT at a running service",
            UNREACHABLE,
        )
    if isinstance(exc, ReadTimeoutError):
        return CliError(f"the service at {endpoint} did not answer in time", UNREACHABLE)
    if isinstance(exc, ParamValidationError):
        return CliError(" ".join(str(exc).split()), USAGE, "ParamValidationError")
    if isinstance(exc, NoRegionError):
        return CliError("no region: pass --region or set AWS_REGION", USAGE)
    return None


def run_handler(
    handler: Callable[[], int], endpoint: str | None = None, stderr: TextIO | None = None
) -> int:
    """Call ``handler`` and map what it raises to an exit code, printing one line.

    An unexpected exception is also one line (exit 3) unless ``HYBRIDJOBS_DEBUG`` is set,
    in which case it propagates with its traceback.
    """
    err = stderr or sys.stderr
    try:
        return handler()
    except CliError as exc:
        print(exc.line(), file=err, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=err, flush=True)
        return INTERRUPTED
    except BrokenPipeError:
        return OK
    except Exception as exc:
        mapped = as_cli_error(exc, endpoint)
        if mapped is None and os.environ.get(DEBUG_ENV):
            raise
        if mapped is None:
            print(f"error: {type(exc).__name__}: {exc}", file=err, flush=True)
            return SERVICE_ERROR
        print(mapped.line(), file=err, flush=True)
        return mapped.exit_code
