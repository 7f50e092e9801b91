"""The console's Starlette application: sign-in, the pages, and the vendored static files.

Everything is under ``/console``: the service's ASGI app hands it every request whose path
starts there (before any SigV4 check: the console has its own sign-in).
"""

from __future__ import annotations

import urllib.parse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hybridjobs.console import jobpages, taskpages
from hybridjobs.console.access import Session, same_origin
from hybridjobs.console.web import HERE, TEMPLATES, ConsoleDeps, read_form

PREFIX = "/console"


def _safe_next(target: str) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith(PREFIX + "/"):
        return PREFIX + "/jobs"
    return parsed.path


def _login_routes(deps: ConsoleDeps) -> list[BaseRoute]:
    access = deps.access

    async def login_form(request: Request) -> Response:
        if not access.verifying():
            return RedirectResponse(PREFIX + "/jobs", status_code=303)
        return _login_page(request, None)

    def _login_page(request: Request, problem: str | None, status: int = 403) -> Response:
        return TEMPLATES.TemplateResponse(
            request,
            "login.html",
            {
                "problem": problem,
                "next": _safe_next(request.query_params.get("next", "")),
                "session": None,
                "verifying": True,
            },
            status_code=status if problem else 200,
        )

    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not access.verifying():
            return RedirectResponse(PREFIX + "/jobs", status_code=303)
        if not same_origin(request):
            return Response("Sign-in from another site is refused.", status_code=403)
        access_key = form.get("access_key", "").strip()
        address = request.client.host if request.client is not None else "-"
        if not deps.limits.sign_in.attempt(address, access_key):
            refused = _login_page(
                request,
                "Too many sign-in attempts from this address or for this access key; "
                "wait a minute before trying again.",
                status=429,
            )
            refused.headers["Retry-After"] = "60"
            return refused
        session = access.sign_in(access_key, form.get("secret", ""))
        if session is None:
            return _login_page(request, "That access key and secret do not match.")
        response = RedirectResponse(_safe_next(form.get("next", "")), status_code=303)
        access.set_cookie(response, session, request.url.scheme == "https")
        return response

    async def logout(request: Request) -> Response:
        session: Session | None = access.session_of(request)
        form = await read_form(request)
        if session is not None and (
            not same_origin(request) or form.get("csrf", "") != session.csrf
        ):
            return Response("The form is stale or from another site.", status_code=403)
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        access.clear_cookie(response)
        return response

    return [
        Route("/login", login_form, methods=["GET"], name="login_form"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
    ]


async def _index(request: Request) -> Response:
    return RedirectResponse(PREFIX + "/jobs", status_code=303)


def build_app(deps: ConsoleDeps) -> Starlette:
    """The console over ``deps`` (routes under ``/console``)."""
    routes: list[BaseRoute] = [
        Route("/", _index, name="index"),
        *_login_routes(deps),
        *jobpages.routes(deps),
        *taskpages.routes(deps),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(
        routes=[Route(PREFIX, _index, name="index"), Mount(PREFIX, routes=routes)],
    )
