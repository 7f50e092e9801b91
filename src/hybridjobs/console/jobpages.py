"""The jobs list and a job's page, its live data (state, logs, metrics), its results, and
its actions (cancel, start a copy).

A job is addressed as ``/console/jobs/<region>/<job id>``; its ARN is built from those and
the signed-in account, and :meth:`JobService.get_job` answers ResourceNotFound for another
account's job, exactly as the API does.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hybridjobs.arns import JobArn
from hybridjobs.console import jobdata
from hybridjobs.console.access import csrf_ok
from hybridjobs.console.joblist import STATUSES, ListQuery, job_page
from hybridjobs.console.web import ConsoleDeps, Visit, read_form, render, signed_in
from hybridjobs.errors import ResourceNotFoundException, ValidationException
from hybridjobs.jobs.model import TERMINAL_STATUSES

TERMINAL = {status.value for status in TERMINAL_STATUSES}


def job_path(arn: str) -> str:
    """The console path of a job ARN."""
    parts = arn.split(":")
    return f"/console/jobs/{parts[3]}/{arn.rsplit('/', 1)[-1]}"


def _arn(visit: Visit) -> tuple[str, str]:
    region = visit.request.path_params["region"]
    job_id = visit.request.path_params["job_id"]
    return region, str(JobArn(region=region, account=visit.session.account_id, job_id=job_id))


def _get_job(visit: Visit, queue: bool = False) -> tuple[str, dict[str, Any]]:
    """GetJob of the addressed job (``queue``: with its queue position)."""
    region, arn = _arn(visit)
    params: dict[str, Any] = {"jobArn": arn}
    if queue:
        params["additionalAttributeNames"] = ["QueueInfo"]
    job = visit.deps.jobs.get_job(visit.caller(region), params)
    return region, job


async def jobs_list(visit: Visit) -> Response:
    return await _list(visit, "jobs.html")


async def jobs_rows(visit: Visit) -> Response:
    return await _list(visit, "job_rows.html")


async def _list(visit: Visit, template: str) -> Response:
    query = ListQuery.from_params(visit.request.query_params)
    try:
        page = await run_in_threadpool(job_page, visit.deps.jobs, visit.caller(), query)
        problem = None
    except ValidationException as error:
        page, problem = None, error.message
    devices = await run_in_threadpool(device_arns, visit) if template == "jobs.html" else []
    return render(
        visit,
        template,
        status=400 if problem else 200,
        query=query,
        page=page,
        problem=problem,
        statuses=STATUSES,
        devices=devices,
        job_path=job_path,
        terminal=TERMINAL,
    )


def device_arns(visit: Visit) -> list[str]:
    answer = visit.deps.devices.search_devices(visit.caller(), {"filters": []})
    return [device["deviceArn"] for device in answer["devices"]]


async def job_page_view(visit: Visit) -> Response:
    _region, job = await run_in_threadpool(_get_job, visit, True)
    results = None
    if job["status"] in TERMINAL:
        results = await run_in_threadpool(jobdata.results_of, visit.deps.objects, job)
    checkpoints = await run_in_threadpool(jobdata.checkpoints_of, visit.deps.objects, job)
    return render(
        visit,
        "job.html",
        job=job,
        path=job_path(job["jobArn"]),
        instances=jobdata.instances_of(job),
        results=results,
        checkpoints=checkpoints,
        terminal=TERMINAL,
        definition=json.dumps(job, indent=2, default=str, sort_keys=True),
    )


async def job_state(visit: Visit) -> Response:
    _region, job = await run_in_threadpool(_get_job, visit)
    return JSONResponse(
        {
            "status": job["status"],
            "terminal": job["status"] in TERMINAL,
            "failureReason": job.get("failureReason"),
            "billableDuration": job.get("billableDuration"),
            "startedAt": _iso(job.get("startedAt")),
            "endedAt": _iso(job.get("endedAt")),
            "events": [
                {"type": e["eventType"], "time": _iso(e["timeOfEvent"]), "message": e["message"]}
                for e in job["events"]
            ],
        }
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def job_logs(visit: Visit) -> Response:
    after = _cursors(visit.request.query_params.get("after", ""))

    def read() -> dict[str, Any]:
        _region, job = _get_job(visit)
        lines, more = jobdata.log_lines(visit.deps.store, job, after)
        return {"lines": lines, "more": more, "terminal": job["status"] in TERMINAL}

    return JSONResponse(await run_in_threadpool(read))


def _cursors(text: str) -> dict[str, int]:
    """``algo-1:12,algo-2:5`` as {instance: sequence}; ValidationException names a bad one."""
    cursors: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        instance, _colon, sequence = part.partition(":")
        if not sequence.isdigit():
            raise ValidationException(f"after: {part!r} is not instance:sequence")
        cursors[instance] = int(sequence)
    return cursors


async def job_metrics(visit: Visit) -> Response:
    raw = visit.request.query_params.get("after", "0")
    if not raw.isdigit():
        raise ValidationException(f"after: {raw!r} is not a count of points")

    def read() -> dict[str, Any]:
        _region, job = _get_job(visit)
        points = jobdata.metric_points(visit.deps.store, job, int(raw))
        return {"points": points, "terminal": job["status"] in TERMINAL}

    return JSONResponse(await run_in_threadpool(read))


async def results_archive(visit: Visit) -> Response:
    _region, job = await run_in_threadpool(_get_job, visit)
    data = await run_in_threadpool(jobdata.results_archive, visit.deps.objects, job)
    if data is None:
        raise ResourceNotFoundException(f"Job {job['jobArn']} saved no results.")
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{job["jobName"]}-model.tar.gz"'},
    )


async def result_file(visit: Visit) -> Response:
    name = visit.request.query_params.get("name", "")
    if not name:
        raise ValidationException("name: the file of model.tar.gz to download is missing")
    _region, job = await run_in_threadpool(_get_job, visit)
    data = await run_in_threadpool(jobdata.result_file, visit.deps.objects, job, name)
    if data is None:
        raise ResourceNotFoundException(f"name: {name!r} is not a file of the job's results.")
    filename = name.rsplit("/", 1)[-1].replace('"', "")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def cancel(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if not csrf_ok(visit.request, visit.session, form):
        return Response("The form is stale or from another site; reload the page.", 403)
    region, arn = _arn(visit)
    await run_in_threadpool(visit.deps.jobs.cancel_job, visit.caller(region), {"jobArn": arn})
    return RedirectResponse(job_path(arn), status_code=303)


async def start_copy(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if not csrf_ok(visit.request, visit.session, form):
        return Response("The form is stale or from another site; reload the page.", 403)

    def copy() -> str:
        region, job = _get_job(visit)
        params = jobdata.copy_request(job, job.get("tags") or {})
        created = visit.deps.jobs.create_job(visit.caller(region), params)
        return str(created["jobArn"])

    arn = await run_in_threadpool(copy)
    return RedirectResponse(job_path(arn), status_code=303)


def routes(deps: ConsoleDeps) -> list[Route]:
    wrap = signed_in(deps)
    job = "/jobs/{region}/{job_id}"
    return [
        Route("/jobs", wrap(jobs_list)),
        Route("/jobs/rows", wrap(jobs_rows)),
        Route(job, wrap(job_page_view)),
        Route(job + "/state", wrap(job_state)),
        Route(job + "/logs", wrap(job_logs)),
        Route(job + "/metrics", wrap(job_metrics)),
        Route(job + "/results/model.tar.gz", wrap(results_archive)),
        Route(job + "/results/file", wrap(result_file)),
        Route(job + "/cancel", wrap(cancel), methods=["POST"]),
        Route(job + "/copy", wrap(start_copy), methods=["POST"]),
    ]
