"""What every console page shares: the dependencies, templates, the signed-in caller, form
reading, and error pages.

An endpoint is wrapped by :func:`signed_in`, which resolves the session (making one for a
browser on a service without keys), sends a browser without one to the sign-in form (or
answers 401 to a data request), runs the endpoint, and turns a domain error into its AWS
error code and status (never a 500 for bad input).
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hybridjobs.console.access import ConsoleAccess, Session
from hybridjobs.console.metering import ACCOUNT_KEY, ConsoleLimits
from hybridjobs.devices.service import DeviceService
from hybridjobs.errors import ServiceError, ThrottlingException
from hybridjobs.jobs.service import Caller, JobService
from hybridjobs.objects import ObjectStore
from hybridjobs.store.base import JobStore
from hybridjobs.tasks.service import TaskService

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class ConsoleDeps:
    """The domain services the console reads through (the API's own), the object store
    results and checkpoints live in, sign-in, and the rate limits."""

    jobs: JobService
    tasks: TaskService
    devices: DeviceService
    store: JobStore
    objects: ObjectStore
    access: ConsoleAccess
    default_region: str
    limits: ConsoleLimits = field(default_factory=ConsoleLimits)


@dataclass(frozen=True)
class Visit:
    """One request of a signed-in browser."""

    request: Request
    session: Session
    deps: ConsoleDeps

    def caller(self, region: str | None = None) -> Caller:
        return Caller(self.session.account_id, region or self.deps.default_region)


def _when(value: datetime.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{seconds:.1f}s"


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.filters["size"] = _size
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, default=str, sort_keys=True)
    env.filters["urlencode_params"] = urllib.parse.urlencode
    return templates


TEMPLATES = make_templates()


def render(visit: Visit, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` with the visit's session, CSRF token and sign-in state."""
    return TEMPLATES.TemplateResponse(
        visit.request,
        name,
        {
            "session": visit.session,
            "csrf": visit.session.csrf,
            "verifying": visit.deps.access.verifying(),
            **context,
        },
        status_code=status,
    )


Endpoint = Callable[[Visit], Awaitable[Response]]


def wants_json(request: Request) -> bool:
    return request.url.path.endswith((".json", "/state", "/logs", "/metrics"))


def signed_in(deps: ConsoleDeps) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    """Wrap an endpoint: resolve the session, else refuse or redirect to sign-in; refuse
    with 429 an account over the API's rate limit for this route (the endpoint's name,
    which the wrapper keeps as its route name)."""

    def wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def handle(request: Request) -> Response:
            session = deps.access.session_of(request)
            fresh = False
            if session is None:
                if deps.access.verifying():
                    if wants_json(request) or request.method != "GET":
                        return JSONResponse({"error": "sign in first"}, status_code=401)
                    target = urllib.parse.quote(request.url.path)
                    return RedirectResponse(f"/console/login?next={target}", status_code=303)
                session, fresh = deps.access.anonymous(), True
            request.scope[ACCOUNT_KEY] = session.account_id
            visit = Visit(request, session, deps)
            if not deps.limits.allow(session.account_id, endpoint.__name__):
                return throttled(visit)
            try:
                response = await endpoint(visit)
            except ServiceError as error:
                response = error_response(visit, error)
            if fresh:
                deps.access.set_cookie(response, session, request.url.scheme == "https")
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handle

    return wrap


def error_response(visit: Visit, error: ServiceError) -> Response:
    """A domain error as JSON (data requests) or an error page, with its AWS status."""
    if wants_json(visit.request):
        return JSONResponse({"code": error.code, "message": error.message}, error.status)
    return render(visit, "error.html", status=error.status, error=error)


def throttled(visit: Visit) -> Response:
    """429: the account sends console requests faster than the service allows."""
    error = ThrottlingException(
        f"Rate exceeded: account {visit.session.account_id} is sending console requests "
        "faster than this service allows; wait a moment and reload."
    )
    response = error_response(visit, error)
    response.headers["Retry-After"] = "1"
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the console's forms); an oversized body reads as empty."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)
