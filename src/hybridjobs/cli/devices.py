"""``hybridjobs devices``: the device catalog (SearchDevices + GetDevice), or one device.

The table has one row per device with its qubit count (``paradigm.qubitCount`` of its
``deviceCapabilities``), shots range (``service.shotsRange``) and the sizes of its
quantum-task queues (``deviceQueueInfo``, normal/priority). ``hybridjobs devices DEVICE``
shows one device in detail: summary, queues, accepted actions, native gates and supported
operations, result types, connectivity (or, for an analog device, its lattice).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import Connection
from hybridjobs.cli.exits import OK, CliError, UsageError
from hybridjobs.cli.parsing import add_command
from hybridjobs.cli.render import Output, Style, table, to_jsonable

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

DEVICE_TYPES = ("QPU", "SIMULATOR")
OPENQASM_ACTION = "braket.ir.openqasm.program"
TASK_QUEUE = "QUANTUM_TASKS_QUEUE"
JOB_QUEUE = "JOBS_QUEUE"
_STATUS_COLOURS = {"ONLINE": "green", "OFFLINE": "yellow", "PAUSED": "yellow", "RETIRED": "red"}
_WRAP = 88
_EDGES_SHOWN = 12


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "devices",
        help="list the devices (simulators and QPUs), or show one",
        description=(
            "Without DEVICE: a table of every device the service offers (SearchDevices), with "
            "its qubits, shots range and quantum-task queue sizes (GetDevice; QUEUE is "
            "normal/priority). With DEVICE (an ARN or a device name such as SV1, any case): "
            "that device's details, native gates, supported operations and connectivity."
        ),
        examples=[
            "hybridjobs devices",
            "hybridjobs devices --type QPU --provider IQM",
            "hybridjobs devices SV1",
            "hybridjobs devices arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet",
            "hybridjobs devices Aquila --capabilities",
            "hybridjobs devices --json",
        ],
    )
    parser.add_argument(
        "device", metavar="DEVICE", nargs="?", help="device ARN or name (case-insensitive)"
    )
    parser.add_argument(
        "--type",
        type=str.upper,
        choices=DEVICE_TYPES,
        help="only devices of this type (QPU or SIMULATOR)",
    )
    parser.add_argument(
        "--provider", metavar="NAME", help="only this provider's devices (any case)"
    )
    parser.add_argument(
        "--capabilities",
        action="store_true",
        help="with DEVICE: print its full deviceCapabilities document as JSON",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_devices)


# -- service calls --------------------------------------------------------------------------


def search_devices(
    connection: Connection, filters: list[dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Every ``DeviceSummary`` matching ``filters`` (SearchDevices, page by page)."""
    token: str | None = None
    while True:
        request: dict[str, Any] = {"filters": filters or [], "maxResults": 100}
        if token:
            request["nextToken"] = token
        page = connection.braket.search_devices(**request)
        yield from page.get("devices", [])
        token = page.get("nextToken")
        if not token:
            return


def get_device(connection: Connection, device_arn: str) -> dict[str, Any]:
    """GetDevice, with ``deviceCapabilities`` left as the JSON string the service sent."""
    device: dict[str, Any] = connection.braket.get_device(deviceArn=device_arn)
    device.pop("ResponseMetadata", None)
    return device


def resolve_device_arn(connection: Connection, reference: str) -> str:
    """The ARN of the device ``reference`` names: an ARN (returned as is) or a device name,
    matched case-insensitively against the names (and the last part of the ARNs) that
    SearchDevices lists.

    An unknown name raises a ``ResourceNotFoundException`` :class:`CliError`; a name two
    devices share raises :class:`UsageError` listing their ARNs.
    """
    reference = reference.strip()
    if reference.startswith("arn:"):
        return reference
    wanted = reference.casefold()
    summaries = list(search_devices(connection))
    matches = [d for d in summaries if d["deviceName"].casefold() == wanted]
    if not matches:
        matches = [d for d in summaries if device_name_of(d["deviceArn"]).casefold() == wanted]
    if len(matches) == 1:
        return str(matches[0]["deviceArn"])
    if not matches:
        names = ", ".join(sorted(d["deviceName"] for d in summaries)) or "none"
        raise CliError(
            f"no device has the ARN or name {reference!r} (devices: {names})",
            code="ResourceNotFoundException",
        )
    arns = "; ".join(d["deviceArn"] for d in matches)
    raise UsageError(f"{len(matches)} devices are named {reference!r}; pass an ARN: {arns}")


def device_name_of(device_arn: str) -> str:
    """The last part of a device ARN (``sv1``, ``Garnet``)."""
    return device_arn.rsplit("/", 1)[-1]


# -- reading a GetDevice answer -------------------------------------------------------------


def capabilities_of(device: dict[str, Any]) -> dict[str, Any]:
    """The parsed ``deviceCapabilities`` document (``{}`` when absent or not JSON)."""
    raw = device.get("deviceCapabilities")
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def qubit_count(capabilities: dict[str, Any]) -> int | None:
    """``paradigm.qubitCount``, or None when the document has none."""
    count = (capabilities.get("paradigm") or {}).get("qubitCount")
    return int(count) if isinstance(count, int | float) else None


def shots_range(capabilities: dict[str, Any]) -> tuple[int, int] | None:
    """``service.shotsRange`` as a pair, or None."""
    value = (capabilities.get("service") or {}).get("shotsRange")
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


def queue_sizes(device: dict[str, Any]) -> dict[str, str]:
    """Queue sizes by name: ``Normal`` and ``Priority`` (quantum tasks), ``Jobs``."""
    sizes: dict[str, str] = {}
    for entry in device.get("deviceQueueInfo") or []:
        if entry.get("queue") == TASK_QUEUE:
            sizes[str(entry.get("queuePriority") or "Normal")] = str(entry.get("queueSize"))
        elif entry.get("queue") == JOB_QUEUE:
            sizes["Jobs"] = str(entry.get("queueSize"))
    return sizes


def _shots_text(capabilities: dict[str, Any]) -> str:
    pair = shots_range(capabilities)
    return f"{pair[0]}-{pair[1]}" if pair else "-"


def _queue_text(sizes: dict[str, str]) -> str:
    return f"{sizes.get('Normal', '-')}/{sizes.get('Priority', '-')}"


def device_row(device: dict[str, Any]) -> dict[str, Any]:
    """One device as ``--json`` shows it in the listing."""
    capabilities = capabilities_of(device)
    pair = shots_range(capabilities)
    return {
        "deviceArn": device["deviceArn"],
        "deviceName": device["deviceName"],
        "providerName": device["providerName"],
        "deviceType": device["deviceType"],
        "deviceStatus": device["deviceStatus"],
        "qubitCount": qubit_count(capabilities),
        "shotsRange": list(pair) if pair else None,
        "queueSizes": queue_sizes(device),
        "actionTypes": sorted((capabilities.get("action") or {}).keys()),
    }


def connectivity_text(paradigm: dict[str, Any]) -> str | None:
    """A one-line summary of ``paradigm.connectivity`` (None when the device has none)."""
    connectivity = paradigm.get("connectivity")
    if not isinstance(connectivity, dict):
        return None
    if connectivity.get("fullyConnected"):
        return "fully connected (any qubit pair)"
    graph = connectivity.get("connectivityGraph") or {}
    edges = sorted(
        {tuple(sorted((str(a), str(b)), key=_qubit_key)) for a, bs in graph.items() for b in bs},
        key=lambda edge: (_qubit_key(edge[0]), _qubit_key(edge[1])),
    )
    qubits = {q for edge in edges for q in edge}
    if not edges:
        return "no connectivity graph given"
    shown = ", ".join(f"{a}-{b}" for a, b in edges[:_EDGES_SHOWN])
    more = f", ... ({len(edges) - _EDGES_SHOWN} more)" if len(edges) > _EDGES_SHOWN else ""
    return f"{len(edges)} couplers between {len(qubits)} qubits: {shown}{more}"


def _qubit_key(label: str) -> tuple[int, str]:
    return (int(label), "") if label.isdigit() else (1 << 30, label)


def lattice_text(paradigm: dict[str, Any]) -> str | None:
    """A one-line summary of an analog (AHS) device's lattice, or None."""
    lattice = paradigm.get("lattice")
    if not isinstance(lattice, dict):
        return None
    area = lattice.get("area") or {}
    geometry = lattice.get("geometry") or {}
    parts: list[str] = []
    if area.get("width") is not None and area.get("height") is not None:
        parts.append(f"{float(area['width']) * 1e6:g} x {float(area['height']) * 1e6:g} um area")
    if geometry.get("numberSitesMax") is not None:
        parts.append(f"up to {geometry['numberSitesMax']} sites")
    if geometry.get("spacingRadialMin") is not None:
        parts.append(f"min spacing {float(geometry['spacingRadialMin']) * 1e6:g} um")
    return ", ".join(parts) or None


def _field(style: Style, name: str, value: str) -> str:
    label = f"{name}:"
    return f"{style(f'{label:<17}', 'bold')} {value}".rstrip()


def _wrapped(style: Style, name: str, items: list[str]) -> list[str]:
    """A field whose value is a long comma-separated list, wrapped under its label."""
    if not items:
        return [_field(style, name, "-")]
    indent = " " * 18
    text = textwrap.fill(
        ", ".join(items), width=_WRAP, initial_indent=indent, subsequent_indent=indent
    )
    first, *rest = text.splitlines()
    return [_field(style, name, first.strip()), *rest]


def _result_type_names(action: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for entry in action.get("supportedResultTypes") or []:
        name = str(entry.get("name", "?"))
        observables = entry.get("observables")
        names.append(f"{name}({'/'.join(observables)})" if observables else name)
    return names


def device_text(device: dict[str, Any], style: Style) -> str:
    """A readable description of a GetDevice answer."""
    capabilities = capabilities_of(device)
    paradigm = capabilities.get("paradigm") or {}
    service = capabilities.get("service") or {}
    sizes = queue_sizes(device)
    status = str(device["deviceStatus"])
    count = qubit_count(capabilities)
    lines = [
        _field(style, "Name", style(str(device["deviceName"]), "bold")),
        _field(style, "ARN", str(device["deviceArn"])),
        _field(style, "Provider", str(device["providerName"])),
        _field(style, "Type", str(device["deviceType"])),
        _field(style, "Status", style(status, "bold", _STATUS_COLOURS.get(status, "bold"))),
        _field(style, "Qubits", str(count) if count is not None else "-"),
        _field(style, "Shots", _shots_text(capabilities)),
        _field(
            style,
            "Task queue",
            f"{sizes.get('Normal', '-')} normal, {sizes.get('Priority', '-')} priority",
        ),
    ]
    if "Jobs" in sizes:
        lines.append(_field(style, "Job queue", sizes["Jobs"]))
    summary = (service.get("deviceDocumentation") or {}).get("summary")
    if summary:
        lines += _wrapped(style, "About", [str(summary)])
    if service.get("updatedAt"):
        lines.append(_field(style, "Updated", str(service["updatedAt"])))
    windows = [
        f"{w.get('executionDay')} {w.get('windowStartHour')}-{w.get('windowEndHour')}"
        for w in service.get("executionWindows") or []
    ]
    if windows:
        lines.append(_field(style, "Availability", "; ".join(windows)))
    actions = capabilities.get("action") or {}
    lines.append(
        _field(
            style,
            "Actions",
            ", ".join(
                f"{name} (v{'/'.join(map(str, a.get('version', [])))})"
                for name, a in sorted(actions.items())
            )
            or "-",
        )
    )
    native = paradigm.get("nativeGateSet")
    if native:
        lines += _wrapped(style, "Native gates", [str(g) for g in native])
    openqasm = actions.get(OPENQASM_ACTION) or {}
    if openqasm:
        lines += _wrapped(
            style, "Operations", [str(o) for o in openqasm.get("supportedOperations") or []]
        )
        lines += _wrapped(style, "Result types", _result_type_names(openqasm))
        modifiers = [
            str(m.get("name", m)) if isinstance(m, dict) else str(m)
            for m in openqasm.get("supportedModifiers") or []
        ]
        if modifiers:
            lines += _wrapped(style, "Modifiers", modifiers)
    connectivity = connectivity_text(paradigm)
    if connectivity:
        lines += _wrapped(style, "Connectivity", [connectivity])
    lattice = lattice_text(paradigm)
    if lattice:
        lines.append(_field(style, "Lattice", lattice))
    parameters = (capabilities.get("deviceParameters") or {}).get("braketSchemaHeader")
    if parameters:
        lines.append(_field(style, "Parameters", str(parameters.get("name"))))
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------


def _devices(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    if args.device:
        if args.type or args.provider:
            raise UsageError("--type and --provider filter the listing; omit them with DEVICE")
        return _one_device(connection, args)
    if args.capabilities:
        raise UsageError("--capabilities needs a DEVICE")
    filters: list[dict[str, Any]] = []
    if args.type:
        filters.append({"name": "deviceType", "values": [args.type]})
    summaries = [
        s
        for s in search_devices(connection, filters)
        if not args.provider or s["providerName"].casefold() == args.provider.casefold()
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        devices = list(pool.map(lambda s: get_device(connection, s["deviceArn"]), summaries))
    if args.json:
        print(json.dumps([to_jsonable(device_row(d)) for d in devices], indent=2))
        return OK
    out = Output(colour=args.color)
    if not devices:
        out.line("no devices")
        return OK
    style = out.style
    rows = []
    for device in devices:
        capabilities = capabilities_of(device)
        count = qubit_count(capabilities)
        status = str(device["deviceStatus"])
        rows.append(
            [
                style(str(device["deviceName"]), "bold"),
                str(device["providerName"]),
                str(device["deviceType"]),
                style(status, "bold", _STATUS_COLOURS.get(status, "bold")),
                str(count) if count is not None else "-",
                _shots_text(capabilities),
                _queue_text(queue_sizes(device)),
                str(device["deviceArn"]),
            ]
        )
    headers = ["NAME", "PROVIDER", "TYPE", "STATUS", "QUBITS", "SHOTS", "QUEUE", "ARN"]
    out.line(table(headers, rows))
    return OK


def _one_device(connection: Connection, args: argparse.Namespace) -> int:
    device = get_device(connection, resolve_device_arn(connection, args.device))
    if args.capabilities:
        print(json.dumps(capabilities_of(device), indent=2))
        return OK
    if args.json:
        answer = {**device, "deviceCapabilities": capabilities_of(device)}
        print(json.dumps(to_jsonable(answer), indent=2))
        return OK
    out = Output(colour=args.color)
    out.line(device_text(device, out.style))
    return OK
