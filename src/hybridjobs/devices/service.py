"""GetDevice and SearchDevices over the device catalog, with live queue sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybridjobs.devices.catalog import DeviceCatalog
from hybridjobs.devices.model import Device
from hybridjobs.errors import ResourceNotFoundException, ValidationException
from hybridjobs.jobs.service import Caller
from hybridjobs.paging import decode_token, encode_token
from hybridjobs.tasks.ports import QueueSize

DEFAULT_PAGE_SIZE = 100
MAX_TASK_QUEUE_SIZE = 4000
MAX_JOB_QUEUE_SIZE = 1000
"""AWS caps reported queue depths: ``'>4000'`` tasks, ``'>1000'`` jobs."""

# SearchDevices filter name -> the Device attribute it matches (values are ORed).
DEVICE_FILTERS: dict[str, Callable[[Device], str]] = {
    "deviceArn": lambda d: d.arn,
    "deviceName": lambda d: d.name,
    "deviceType": lambda d: d.device_type.value,
    "deviceStatus": lambda d: d.status.value,
    "providerName": lambda d: d.provider,
}


def _capped(size: int, cap: int) -> str:
    return str(size) if size <= cap else f">{cap}"


def device_summary(device: Device) -> dict[str, Any]:
    """The ``DeviceSummary`` of a device."""
    return {
        "deviceArn": device.arn,
        "deviceName": device.name,
        "providerName": device.provider,
        "deviceType": device.device_type.value,
        "deviceStatus": device.status.value,
    }


class DeviceService:
    """The device operations. ``task_queues`` and ``job_queues`` read the live queue
    depths (QUEUED tasks per device and priority; QUEUED jobs per device)."""

    def __init__(
        self,
        catalog: DeviceCatalog,
        task_queues: Callable[[], list[QueueSize]],
        job_queues: Callable[[], dict[str, int]],
    ) -> None:
        self.catalog = catalog
        self.task_queues = task_queues
        self.job_queues = job_queues

    def get_device(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        device = self.catalog.get(params["deviceArn"])
        if device is None:
            raise ResourceNotFoundException(f"Device {params['deviceArn']} not found.")
        sizes = {
            size.priority.value: size.size
            for size in self.task_queues()
            if size.device_arn == device.arn
        }
        return {
            **device_summary(device),
            "deviceCapabilities": device.capabilities_json,
            "deviceQueueInfo": [
                {
                    "queue": "QUANTUM_TASKS_QUEUE",
                    "queueSize": _capped(sizes.get(priority, 0), MAX_TASK_QUEUE_SIZE),
                    "queuePriority": priority,
                }
                for priority in ("Normal", "Priority")
            ]
            + [
                {
                    "queue": "JOBS_QUEUE",
                    "queueSize": _capped(self.job_queues().get(device.arn, 0), MAX_JOB_QUEUE_SIZE),
                }
            ],
        }

    def search_devices(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        raw_filters: list[dict[str, Any]] = params["filters"]
        problems = [
            f"filters[{index}].name: {raw['name']!r} is not one of: {', '.join(DEVICE_FILTERS)}"
            for index, raw in enumerate(raw_filters)
            if raw["name"] not in DEVICE_FILTERS
        ]
        if problems:
            raise ValidationException("; ".join(problems))
        devices = [
            device
            for device in self.catalog.all()
            if all(DEVICE_FILTERS[f["name"]](device) in f["values"] for f in raw_filters)
        ]
        start = decode_token(params["nextToken"], raw_filters) if params.get("nextToken") else 0
        limit = int(params.get("maxResults") or DEFAULT_PAGE_SIZE)
        page = devices[start : start + limit]
        response: dict[str, Any] = {"devices": [device_summary(d) for d in page]}
        if start + limit < len(devices):
            response["nextToken"] = encode_token(start + limit, raw_filters)
        return response
