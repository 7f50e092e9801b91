"""``hybridjobs serve --devices-dir``: an operator's saved device properties, served by a
live service, and a file that cannot be served stopping it with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.server import API_TEST_SERVER_ENV, server_env, start_server

from hybridjobs.devices.make_catalog import BUILT_IN_DIR

GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
MY_GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet-lab"


def saved_device(arn: str, name: str, status: str = "ONLINE") -> str:
    """The shipped Garnet file as `aws braket get-device` prints it, renamed."""
    document = json.loads((BUILT_IN_DIR / "iqm-garnet.json").read_text())
    document.update(deviceArn=arn, deviceName=name, deviceStatus=status)
    if not isinstance(document["deviceCapabilities"], str):
        document["deviceCapabilities"] = json.dumps(document["deviceCapabilities"])
    return json.dumps(document)


def test_served_devices_come_from_the_directory(tmp_path: Path) -> None:
    devices = tmp_path / "devices"
    devices.mkdir()
    (devices / "lab.json").write_text(saved_device(MY_GARNET, "Garnet-lab"))
    (devices / "garnet.json").write_text(saved_device(GARNET, "Garnet", status="OFFLINE"))
    live = start_server(
        tmp_path / "data", env=API_TEST_SERVER_ENV, extra_args=["--devices-dir", str(devices)]
    )
    try:
        braket = live.client("braket")
        assert braket.get_device(deviceArn=MY_GARNET)["deviceName"] == "Garnet-lab"
        assert braket.get_device(deviceArn=GARNET)["deviceStatus"] == "OFFLINE"
        names = {d["deviceName"] for d in braket.search_devices(filters=[])["devices"]}
        assert {"SV1", "Garnet", "Garnet-lab", "Aquila"} <= names
    finally:
        assert live.stop() == 0


def test_a_file_that_does_not_validate_stops_the_service(tmp_path: Path) -> None:
    devices = tmp_path / "devices"
    devices.mkdir()
    broken = json.loads(saved_device(MY_GARNET, "Broken"))
    capabilities = json.loads(broken["deviceCapabilities"])
    del capabilities["paradigm"]
    broken["deviceCapabilities"] = json.dumps(capabilities)
    (devices / "broken.json").write_text(json.dumps(broken))
    command = [sys.executable, "-m", "hybridjobs.cli", "serve", "--port", "0"]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "data"), "--devices-dir", str(devices)],
        env=server_env(API_TEST_SERVER_ENV),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "broken.json" in result.stderr and "paradigm" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("status", ["OFFLINE", "RETIRED"])
def test_tasks_for_unavailable_devices_are_refused(tmp_path: Path, status: str) -> None:
    import uuid

    from braket.ir.openqasm import Program

    devices = tmp_path / "devices"
    devices.mkdir()
    (devices / "lab.json").write_text(saved_device(MY_GARNET, "Garnet-lab", status=status))
    live = start_server(
        tmp_path / "data", env=API_TEST_SERVER_ENV, extra_args=["--devices-dir", str(devices)]
    )
    try:
        live.client("s3").create_bucket(
            Bucket="lab-results", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        braket = live.client("braket")
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as raised:
            braket.create_quantum_task(
                clientToken=str(uuid.uuid4()),
                deviceArn=MY_GARNET,
                shots=10,
                outputS3Bucket="lab-results",
                outputS3KeyPrefix="t",
                action=Program(source="OPENQASM 3.0;\nqubit[1] q;", inputs={}).json(),
            )
        expected = {
            "OFFLINE": ("DeviceOfflineException", 424),
            "RETIRED": ("DeviceRetiredException", 410),
        }
        error = raised.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == expected[
            status
        ]
    finally:
        assert live.stop() == 0
