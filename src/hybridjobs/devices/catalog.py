"""The device catalog: managed simulators, built-in emulated QPUs and operators' devices.

:func:`load_catalog` gathers, in this order (a later device with the same ARN replaces an
earlier one): SV1, DM1 and TN1 (:mod:`hybridjobs.devices.simulators`); the JSON files
shipped in the package's ``builtin/`` directory (written by
:mod:`hybridjobs.devices.make_catalog`); every ``*.json`` of each extra directory, in name
order. A file holds what ``aws braket get-device --device-arn ARN`` prints: ``deviceArn``,
``deviceName``, ``providerName``, ``deviceType``, ``deviceStatus`` and
``deviceCapabilities`` (a JSON string, or the object itself); other keys are ignored.

Every file is checked when loaded; a bad one raises :class:`CatalogError` naming the file
and the problem. A QPU whose capabilities have a ``braket.ir.ahs.program`` action runs on
the ``braket_ahs`` engine, any other QPU on ``emulator`` (which needs the OpenQASM action,
native gates and the per-qubit figures the SDK's emulator reads). A ``SIMULATOR`` file may
only replace SV1, DM1 or TN1 (same engine). ARNs are taken as written: a regional QPU ARN
is looked up exactly, case-sensitively.

Only the SDK's schema packages are imported here (cheap); never ``braket.emulation``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from braket.device_schema import DeviceCapabilities
from braket.schema_common import BraketSchemaBase

from hybridjobs.devices.model import Device, DeviceStatus, DeviceType
from hybridjobs.devices.simulators import SIMULATOR_ENGINES, simulator_devices

AHS_ACTION = "braket.ir.ahs.program"
OPENQASM_ACTION = "braket.ir.openqasm.program"
BUILT_IN_SOURCE = "built-in"
BUILT_IN_FOLDER = "builtin"
"""The package folder of the built-in device files (not ``catalog/``: a folder named like
this module would shadow it for type checkers)."""
_REQUIRED_KEYS = (
    "deviceArn",
    "deviceName",
    "providerName",
    "deviceType",
    "deviceStatus",
    "deviceCapabilities",
)


class CatalogError(Exception):
    """A device file cannot be served; ``str(error)`` is ``"<file>: <what is wrong>"``."""


class DeviceCatalog:
    """The devices this service offers, by ARN (exact, case-sensitive match)."""

    def __init__(self, devices: Iterable[Device]) -> None:
        self._devices: dict[str, Device] = {}
        for device in devices:
            self._devices[device.arn] = device

    def get(self, arn: str) -> Device | None:
        """The device with exactly this ARN, or ``None``."""
        return self._devices.get(arn)

    def all(self) -> list[Device]:
        """Every device, sorted by ARN."""
        return [self._devices[arn] for arn in sorted(self._devices)]

    def __len__(self) -> int:
        return len(self._devices)

    def __contains__(self, arn: object) -> bool:
        return arn in self._devices


def load_catalog(max_task_memory_bytes: int, extra_dirs: Sequence[Path] = ()) -> DeviceCatalog:
    """The simulators, the built-in emulated devices, then the devices of ``extra_dirs``.

    Raises CatalogError for a file that cannot be served, or an extra directory that does
    not exist.
    """
    devices = simulator_devices(max_task_memory_bytes, include_program_sets=True)
    for name, text in _built_in_files():
        devices.append(parse_device_file(text, name, BUILT_IN_SOURCE))
    for directory in extra_dirs:
        if not directory.is_dir():
            raise CatalogError(f"{directory}: not a directory")
        for path in sorted(directory.glob("*.json")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CatalogError(f"{path}: cannot be read: {error}") from None
            devices.append(parse_device_file(text, str(path), str(path)))
    return DeviceCatalog(devices)


def _built_in_files() -> list[tuple[str, str]]:
    """``(name, text)`` of each packaged device file, in name order."""
    folder = resources.files("hybridjobs.devices").joinpath(BUILT_IN_FOLDER)
    files = [entry for entry in folder.iterdir() if entry.name.endswith(".json")]
    return [
        (f"{BUILT_IN_FOLDER}/{entry.name}", entry.read_text(encoding="utf-8"))
        for entry in sorted(files, key=lambda e: e.name)
    ]


def parse_device_file(text: str, name: str, source: str) -> Device:
    """One device file as a Device; ``name`` is used in error messages, ``source`` is kept
    on the device. Raises CatalogError."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{name}: not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise CatalogError(f"{name}: expected a JSON object (the output of get-device)")
    missing = [key for key in _REQUIRED_KEYS if key not in document]
    if missing:
        raise CatalogError(f"{name}: missing {', '.join(missing)}")
    for key in _REQUIRED_KEYS[:3]:
        if not isinstance(document[key], str) or not document[key]:
            raise CatalogError(f"{name}: {key} must be a non-empty string")
    device_type = _enum(DeviceType, document["deviceType"], "deviceType", name)
    status = _enum(DeviceStatus, document["deviceStatus"], "deviceStatus", name)
    capabilities_json, capabilities = _capabilities(document["deviceCapabilities"], name)
    arn = document["deviceArn"]
    return Device(
        arn=arn,
        name=document["deviceName"],
        provider=document["providerName"],
        device_type=device_type,
        status=status,
        capabilities=capabilities,
        engine=_engine(arn, device_type, capabilities, name),
        source=source,
        capabilities_json=capabilities_json,
    )


def _enum(kind: type[DeviceType] | type[DeviceStatus], value: Any, key: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise CatalogError(f"{name}: {key} {value!r} is not one of {allowed}") from None


def _capabilities(value: Any, name: str) -> tuple[str, dict[str, Any]]:
    """The capabilities as (JSON text, object), checked against the SDK's schema."""
    if isinstance(value, str):
        text = value
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise CatalogError(f"{name}: deviceCapabilities is not valid JSON: {error}") from None
    elif isinstance(value, dict):
        document, text = value, json.dumps(value)
    else:
        raise CatalogError(f"{name}: deviceCapabilities must be a JSON string or object")
    if not isinstance(document, dict):
        raise CatalogError(f"{name}: deviceCapabilities must be a JSON object")
    header = document.get("braketSchemaHeader")
    if not isinstance(header, dict) or "name" not in header:
        raise CatalogError(f"{name}: deviceCapabilities has no braketSchemaHeader")
    try:
        parsed = BraketSchemaBase.parse_raw_schema(text)
    except Exception as error:
        raise CatalogError(
            f"{name}: deviceCapabilities do not validate as {header['name']} "
            f"v{header.get('version')}: {_schema_errors(error)}"
        ) from None
    if not isinstance(parsed, DeviceCapabilities):
        raise CatalogError(f"{name}: {header['name']} is not a device-capabilities schema")
    return text, document


def _schema_errors(error: Exception, limit: int = 3) -> str:
    """The first few pydantic errors as ``field.path: message``, or the error's text."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            found = errors()
        except Exception:
            found = []
        if found:
            parts = [
                f"{'.'.join(str(p) for p in item.get('loc', ())) or '(document)'}: "
                f"{item.get('msg', '')}"
                for item in found[:limit]
            ]
            more = len(found) - limit
            return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
    return (str(error).strip() or type(error).__name__).splitlines()[0]


def _engine(arn: str, device_type: DeviceType, capabilities: dict[str, Any], name: str) -> str:
    actions = capabilities.get("action") or {}
    if device_type is DeviceType.SIMULATOR:
        engine = SIMULATOR_ENGINES.get(arn)
        if engine is None:
            known = ", ".join(sorted(SIMULATOR_ENGINES))
            raise CatalogError(
                f"{name}: a SIMULATOR file may only replace one of {known}, not {arn}"
            )
        return engine
    if AHS_ACTION in actions:
        _check_ahs(capabilities, name)
        return "braket_ahs"
    _check_emulatable(capabilities, name)
    return "emulator"


def _check_ahs(capabilities: dict[str, Any], name: str) -> None:
    paradigm = capabilities.get("paradigm") or {}
    if "lattice" not in paradigm or "rydberg" not in paradigm:
        raise CatalogError(
            f"{name}: an AHS device needs paradigm.lattice and paradigm.rydberg (as QuEra's)"
        )


def _check_emulatable(capabilities: dict[str, Any], name: str) -> None:
    """What the SDK's LocalEmulator needs of a gate-model QPU (checked without it)."""
    if OPENQASM_ACTION not in (capabilities.get("action") or {}):
        raise CatalogError(f"{name}: an emulated QPU needs the {OPENQASM_ACTION} action")
    paradigm = capabilities.get("paradigm") or {}
    if not paradigm.get("nativeGateSet") or "qubitCount" not in paradigm:
        raise CatalogError(f"{name}: an emulated QPU needs paradigm.nativeGateSet and qubitCount")
    header = capabilities["braketSchemaHeader"]["name"]
    if "ionq" in header:
        provider = capabilities.get("provider") or {}
        fidelity = provider.get("fidelity") or {}
        if not all(kind in fidelity for kind in ("1Q", "2Q", "spam")):
            raise CatalogError(f"{name}: an IonQ device needs provider.fidelity 1Q, 2Q and spam")
        return
    one_qubit = (capabilities.get("standardized") or {}).get("oneQubitProperties") or {}
    if len(one_qubit) != paradigm["qubitCount"]:
        raise CatalogError(
            f"{name}: standardized.oneQubitProperties has {len(one_qubit)} qubits, "
            f"paradigm.qubitCount says {paradigm['qubitCount']}; the emulator needs one entry "
            "per qubit"
        )
    for qubit, properties in one_qubit.items():
        kinds = {f.get("fidelityType", {}).get("name") for f in properties["oneQubitFidelity"]}
        if "READOUT" not in kinds or not kinds & {
            "RANDOMIZED_BENCHMARKING",
            "SIMULTANEOUS_RANDOMIZED_BENCHMARKING",
        }:
            raise CatalogError(
                f"{name}: qubit {qubit} needs READOUT and (SIMULTANEOUS_)RANDOMIZED_BENCHMARKING "
                "fidelities for the emulator's noise model"
            )
