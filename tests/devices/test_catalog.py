"""The device catalog: managed simulators, built-in emulated QPUs and operators' files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from braket.aws import AwsDevice
from braket.device_schema import DeviceCapabilities
from braket.schema_common import BraketSchemaBase

from hybridjobs.devices.catalog import CatalogError, load_catalog
from hybridjobs.devices.make_catalog import BUILT_IN_DIR, NOTE, SNAPSHOT_DATE, build_documents
from hybridjobs.devices.model import DeviceStatus, DeviceType
from hybridjobs.devices.simulators import simulator_devices

GIB = 2**30
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
FORTE = "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"
GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
ANKAA = "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3"
AQUILA = "arn:aws:braket:us-east-1::device/qpu/quera/Aquila"

EXPECTED = {
    SV1: ("SV1", "Amazon Braket", "braket_sv", "GateModelSimulatorDeviceCapabilities"),
    DM1: ("DM1", "Amazon Braket", "braket_dm", "GateModelSimulatorDeviceCapabilities"),
    TN1: ("TN1", "Amazon Braket", "braket_tn", "GateModelSimulatorDeviceCapabilities"),
    FORTE: ("Forte-1", "IonQ", "emulator", "IonqDeviceCapabilities"),
    GARNET: ("Garnet", "IQM", "emulator", "IqmDeviceCapabilities"),
    ANKAA: ("Ankaa-3", "Rigetti", "emulator", "RigettiDeviceCapabilities"),
    AQUILA: ("Aquila", "QuEra", "braket_ahs", "QueraDeviceCapabilities"),
}


def _garnet_file() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((BUILT_IN_DIR / "iqm-garnet.json").read_text())
    return document


def _write(directory: Path, name: str, document: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def _aws_device_view(capabilities_json: str) -> Any:
    """What ``AwsDevice._populate_properties`` makes of a GetDevice ``deviceCapabilities``
    (parsed with the schema named in its header), plus its topology graph."""
    properties = BraketSchemaBase.parse_raw_schema(capabilities_json)
    assert isinstance(properties, DeviceCapabilities)
    _ = properties.service.getTaskPollIntervalMillis
    device = AwsDevice.__new__(AwsDevice)
    device._properties = properties
    return properties, device._construct_topology_graph()


def test_catalog_has_the_simulators_and_the_built_in_qpus() -> None:
    catalog = load_catalog(8 * GIB)
    assert [device.arn for device in catalog.all()] == sorted(EXPECTED)
    for arn, (name, provider, engine, _) in EXPECTED.items():
        device = catalog.get(arn)
        assert device is not None
        assert (device.name, device.provider, device.engine) == (name, provider, engine)
        assert device.status is DeviceStatus.ONLINE
        assert device.source == "built-in"
        expected_type = DeviceType.SIMULATOR if "simulator" in arn else DeviceType.QPU
        assert device.device_type is expected_type


@pytest.mark.parametrize("arn", sorted(EXPECTED))
def test_capabilities_parse_as_the_sdk_parses_get_device(arn: str) -> None:
    device = load_catalog(8 * GIB).get(arn)
    assert device is not None
    properties, topology = _aws_device_view(device.capabilities_json)
    assert type(properties).__name__ == EXPECTED[arn][3]
    assert json.loads(device.capabilities_json) == device.capabilities
    assert sorted(device.action_types) == sorted(properties.action)
    if arn in (FORTE, GARNET, ANKAA):
        assert topology.number_of_nodes() == device.qubit_count


def test_lookup_is_exact() -> None:
    catalog = load_catalog(8 * GIB)
    assert catalog.get(GARNET.lower()) is None
    assert catalog.get("arn:aws:braket:::device/qpu/iqm/Garnet") is None
    assert catalog.get("arn:aws:braket:us-east-1::device/qpu/iqm/Garnet") is None
    assert catalog.get(GARNET.upper()) is None


def test_simulator_qubit_limits_follow_the_memory_budget() -> None:
    by_name = {d.name: d for d in simulator_devices(GIB)}
    # 2**26 * 16 bytes = 1 GiB; 4**13 * 16 bytes = 1 GiB
    assert (by_name["SV1"].qubit_count, by_name["DM1"].qubit_count) == (26, 13)
    assert by_name["TN1"].qubit_count == 26
    by_name = {d.name: d for d in simulator_devices(2**60)}
    assert [by_name[n].qubit_count for n in ("SV1", "DM1", "TN1")] == [34, 17, 34]
    with pytest.raises(ValueError, match="cannot hold one qubit"):
        simulator_devices(16)


def test_simulator_service_properties() -> None:
    by_name = {d.name: d for d in simulator_devices(8 * GIB)}
    assert by_name["SV1"].shots_range == (0, 100_000)
    assert by_name["DM1"].shots_range == (0, 100_000)
    assert by_name["TN1"].shots_range == (1, 100_000)
    for device in by_name.values():
        window = device.capabilities["service"]["executionWindows"][0]
        assert window == {
            "executionDay": "Everyday",
            "windowStartHour": "00:00:00",
            "windowEndHour": "23:59:59",
        }
        parameters = device.capabilities["deviceParameters"]
        assert parameters["title"] == "GateModelSimulatorDeviceParameters"
    assert by_name["SV1"].action_types == {"braket.ir.openqasm.program", "braket.ir.jaqcd.program"}
    assert by_name["TN1"].action_types == {"braket.ir.openqasm.program"}
    with_sets = {d.name: d for d in simulator_devices(8 * GIB, include_program_sets=True)}
    assert "braket.ir.openqasm.program_set" in with_sets["SV1"].action_types


@pytest.mark.parametrize(("name", "backend"), [("SV1", "braket_sv"), ("DM1", "braket_dm")])
def test_simulators_declare_what_the_default_simulator_supports(name: str, backend: str) -> None:
    from braket.devices import LocalSimulator

    local = json.loads(LocalSimulator(backend).properties.json())
    device = next(d for d in simulator_devices(8 * GIB) if d.name == name)
    for action in ("braket.ir.openqasm.program", "braket.ir.jaqcd.program"):
        ours, theirs = device.capabilities["action"][action], local["action"][action]
        assert sorted(ours["supportedOperations"]) == sorted(theirs["supportedOperations"])
        assert [rt["name"] for rt in ours["supportedResultTypes"]] == [
            rt["name"] for rt in theirs["supportedResultTypes"]
        ]
        if action == "braket.ir.openqasm.program":
            assert sorted(ours["supportedPragmas"]) == sorted(theirs["supportedPragmas"])
            assert ours["supportedModifiers"] == theirs["supportedModifiers"]
    assert device.capabilities["deviceParameters"] == local["deviceParameters"]


def test_built_in_files_are_what_the_generator_writes() -> None:
    documents = build_documents()
    assert sorted(p.name for p in BUILT_IN_DIR.glob("*.json")) == sorted(documents)
    for file_name, document in documents.items():
        on_disk = json.loads((BUILT_IN_DIR / file_name).read_text())
        assert on_disk == document, (
            f"{file_name} is stale: run python -m hybridjobs.devices.make_catalog"
        )
        assert on_disk["hybridjobs"] == {"note": NOTE, "snapshotDate": SNAPSHOT_DATE}
        summary = json.loads(on_disk["deviceCapabilities"])["service"]["deviceDocumentation"]
        assert NOTE in summary["summary"]
        assert (BUILT_IN_DIR / file_name).stat().st_size < 64_000


@pytest.mark.parametrize("arn", [FORTE, GARNET, ANKAA])
def test_built_in_gate_qpus_build_an_sdk_emulator(arn: str) -> None:
    from braket.emulation.local_emulator import LocalEmulator

    device = load_catalog(8 * GIB).get(arn)
    assert device is not None
    properties = BraketSchemaBase.parse_raw_schema(device.capabilities_json)
    emulator = LocalEmulator.from_device_properties(properties)
    assert emulator.noise_model.instructions


def test_operator_directory_adds_and_replaces_devices(tmp_path: Path) -> None:
    garnet = _garnet_file()
    added = dict(garnet, deviceArn="arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet-2")
    added["deviceName"] = "Garnet-2"
    added["deviceCapabilities"] = json.loads(garnet["deviceCapabilities"])  # object form
    replaced = dict(garnet, deviceStatus="OFFLINE")
    first, second = tmp_path / "first", tmp_path / "second"
    new_path = _write(first, "a-garnet-2.json", added)
    _write(first, "b-garnet.json", replaced)
    later_path = _write(second, "garnet.json", dict(garnet, deviceStatus="PAUSED"))

    catalog = load_catalog(8 * GIB, [first])
    assert len(catalog) == len(EXPECTED) + 1
    extra = catalog.get(added["deviceArn"])
    assert extra is not None
    assert (extra.name, extra.engine, extra.source) == ("Garnet-2", "emulator", str(new_path))
    assert json.loads(extra.capabilities_json) == added["deviceCapabilities"]
    garnet_device = catalog.get(GARNET)
    assert garnet_device is not None
    assert garnet_device.status is DeviceStatus.OFFLINE

    catalog = load_catalog(8 * GIB, [first, second])
    garnet_device = catalog.get(GARNET)
    assert garnet_device is not None
    assert (garnet_device.status, garnet_device.source) == (DeviceStatus.PAUSED, str(later_path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
        ({"deviceArn": GARNET}, "missing deviceName"),
        ({"deviceType": "QUANTUM"}, "deviceType 'QUANTUM' is not one of QPU, SIMULATOR"),
        ({"deviceCapabilities": "{"}, "deviceCapabilities is not valid JSON"),
        ({"deviceCapabilities": 7}, "must be a JSON string or object"),
        (
            {"drop": "paradigm"},
            "do not validate as braket.device_schema.iqm.iqm_device_capabilities",
        ),
        ({"drop": "standardized"}, "standardized.oneQubitProperties has 0 qubits"),
        ({"deviceType": "SIMULATOR"}, "a SIMULATOR file may only replace"),
    ],
)
def test_a_bad_file_names_itself_and_the_problem(
    tmp_path: Path, content: object, message: str
) -> None:
    if isinstance(content, dict) and "deviceArn" not in content:
        document = _garnet_file()
        capabilities = json.loads(document["deviceCapabilities"])
        if "drop" in content:
            capabilities.pop(str(content["drop"]))
            document["deviceCapabilities"] = json.dumps(capabilities)
        else:
            document.update(content)
        content = document
    path = _write(tmp_path, "broken.json", content)
    with pytest.raises(CatalogError) as caught:
        load_catalog(8 * GIB, [tmp_path])
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a directory"):
        load_catalog(8 * GIB, [tmp_path / "absent"])


def test_loading_the_catalog_imports_neither_emulator_nor_simulators() -> None:
    code = (
        "import sys; from hybridjobs.devices.catalog import load_catalog; load_catalog(2**33); "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('braket.')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out.replace("'", '"')))
    assert not loaded & {"emulation", "default_simulator", "circuits", "devices", "aws"}
