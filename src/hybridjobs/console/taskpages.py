"""Quantum tasks (list and page) and the device catalog.

The list is SearchQuantumTasks' keyset pages; a task's page is GetQuantumTask plus its
``results.json`` from the task's output location (what the SDK reads through S3), which
holds the program (``additionalMetadata.action``) and the measured counts the histogram
shows. The catalog is SearchDevices with GetDevice's queue sizes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from hybridjobs.arns import TaskArn
from hybridjobs.console.jobpages import device_arns, job_path
from hybridjobs.console.tasklist import TASK_STATUSES, TaskQuery
from hybridjobs.console.web import ConsoleDeps, Visit, render, signed_in
from hybridjobs.errors import ValidationException
from hybridjobs.objects import ObjectStoreError

PAGE_SIZE = 25
MAX_RESULTS_BYTES = 8 * 2**20
MAX_BARS = 64


def task_path(arn: str) -> str:
    parts = arn.split(":")
    return f"/console/tasks/{parts[3]}/{arn.rsplit('/', 1)[-1]}"


async def tasks_list(visit: Visit) -> Response:
    query = TaskQuery.from_params(visit.request.query_params)
    try:
        params = query.search(PAGE_SIZE)
        answer = await run_in_threadpool(
            visit.deps.tasks.search_quantum_tasks, visit.caller(), params
        )
        problem = None
    except ValidationException as error:
        answer, problem = {"quantumTasks": []}, error.message
    devices = await run_in_threadpool(device_arns, visit)
    return render(
        visit,
        "tasks.html",
        status=400 if problem else 200,
        tasks=answer["quantumTasks"],
        next_token=answer.get("nextToken"),
        problem=problem,
        query=query,
        statuses=TASK_STATUSES,
        devices=devices,
        task_path=task_path,
    )


def _results(visit: Visit, task: dict[str, Any]) -> dict[str, Any] | None:
    key = f"{task['outputS3Directory']}/results.json"
    try:
        data = visit.deps.objects.get_bytes(task["outputS3Bucket"], key)
    except ObjectStoreError:
        return None
    if len(data) > MAX_RESULTS_BYTES:
        return None
    try:
        parsed: dict[str, Any] = json.loads(data)
    except ValueError:
        return None
    return parsed


def histogram(results: dict[str, Any] | None) -> list[tuple[str, int, float]]:
    """(bitstring, count, share) of the measured outcomes, most frequent first (at most
    ``MAX_BARS``): from ``measurements`` or ``measurementProbabilities`` times shots."""
    if not results:
        return []
    counts: Counter[str] = Counter()
    if results.get("measurements"):
        counts.update("".join(str(bit) for bit in shot) for shot in results["measurements"])
    elif results.get("measurementProbabilities"):
        shots = int((results.get("taskMetadata") or {}).get("shots") or 0) or 1
        for outcome, share in results["measurementProbabilities"].items():
            counts[outcome] = round(float(share) * shots)
    total = sum(counts.values()) or 1
    return [(bits, n, n / total) for bits, n in counts.most_common(MAX_BARS)]


def program_of(results: dict[str, Any] | None) -> str | None:
    action = ((results or {}).get("additionalMetadata") or {}).get("action")
    if not action:
        return None
    if isinstance(action, dict) and isinstance(action.get("source"), str):
        return str(action["source"])
    return json.dumps(action, indent=2)


async def task_page(visit: Visit) -> Response:
    region = visit.request.path_params["region"]
    task_id = visit.request.path_params["task_id"]
    arn = str(TaskArn(region=region, account=visit.session.account_id, task_id=task_id))

    def read() -> tuple[dict[str, Any], dict[str, Any] | None]:
        task = visit.deps.tasks.get_quantum_task(
            visit.caller(region), {"quantumTaskArn": arn, "additionalAttributeNames": ["QueueInfo"]}
        )
        results = _results(visit, task) if task["status"] == "COMPLETED" else None
        return task, results

    task, results = await run_in_threadpool(read)
    return render(
        visit,
        "task.html",
        task=task,
        results=results,
        bars=histogram(results),
        program=program_of(results),
        job_path=job_path,
    )


async def devices_page(visit: Visit) -> Response:
    def read() -> list[dict[str, Any]]:
        caller = visit.caller()
        found = visit.deps.devices.search_devices(caller, {"filters": []})["devices"]
        return [visit.deps.devices.get_device(caller, {"deviceArn": d["deviceArn"]}) for d in found]

    devices = await run_in_threadpool(read)
    return render(visit, "devices.html", devices=devices)


def routes(deps: ConsoleDeps) -> list[Route]:
    wrap = signed_in(deps)
    return [
        Route("/tasks", wrap(tasks_list)),
        Route("/tasks/{region}/{task_id}", wrap(task_page)),
        Route("/devices", wrap(devices_page)),
    ]
