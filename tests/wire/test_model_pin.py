"""Pin the part of botocore's Braket model that hybridjobs serves.

The wire layer is driven by botocore's model (design principle 1), so a botocore upgrade
can silently change routes, constraints or error codes. This test fingerprints every shape
reachable from the implemented operations (and the error shapes) and fails when the
fingerprint moves.

To update after a deliberate botocore change::

    .venv/bin/python tests/wire/test_model_pin.py

rewrites ``braket_model_pin.json`` and prints the new hash; review ``git diff`` of that file,
make hybridjobs handle the change, then paste the hash into ``MODEL_PIN_SHA256``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from hybridjobs.services.braket import IMPLEMENTED
from hybridjobs.wire import botomodel

MODEL_PIN_SHA256 = "fc1fc082caa2531464959e4528e320615daf4e71f0dcd12e204c45deb5b707f2"
SNAPSHOT = Path(__file__).with_name("braket_model_pin.json")
SHAPE_METADATA = ("min", "max", "pattern", "enum", "timestampFormat", "error", "exception")
MEMBER_SERIALIZATION = ("location", "name", "timestampFormat")


def _describe_shape(shape: Shape) -> dict[str, Any]:
    description: dict[str, Any] = {"type": shape.type_name}
    for key in SHAPE_METADATA:
        if key in shape.metadata:
            description[key] = shape.metadata[key]
    if isinstance(shape, StructureShape):
        description["required"] = sorted(shape.required_members)
        description["members"] = {
            name: {
                "shape": member.name,
                **{
                    k: member.serialization[k]
                    for k in MEMBER_SERIALIZATION
                    if k in member.serialization
                },
                **({"idempotencyToken": True} if member.metadata.get("idempotencyToken") else {}),
            }
            for name, member in shape.members.items()
        }
    elif isinstance(shape, ListShape):
        description["member"] = shape.member.name
    elif isinstance(shape, MapShape):
        description["key"] = shape.key.name
        description["value"] = shape.value.name
    return description


def _children(shape: Shape) -> list[Shape]:
    if isinstance(shape, StructureShape):
        return list(shape.members.values())
    if isinstance(shape, ListShape):
        return [shape.member]
    if isinstance(shape, MapShape):
        return [shape.key, shape.value]
    return []


def model_fingerprint(model: ServiceModel, operation_names: tuple[str, ...]) -> dict[str, Any]:
    """Everything of ``model`` that the named operations depend on, as plain JSON data."""
    operations: dict[str, Any] = {}
    roots: list[Shape] = []
    for name in operation_names:
        operation = model.operation_model(name)
        operations[name] = {
            "http": {
                k: operation.http[k]
                for k in ("method", "requestUri", "responseCode")
                if k in operation.http
            },
            "input": operation.input_shape.name if operation.input_shape else None,
            "output": operation.output_shape.name if operation.output_shape else None,
            "errors": sorted(e.name for e in operation.error_shapes),
            # The operation's own trait; OperationModel has no public accessor for it.
            "idempotent": bool(operation._operation_model.get("idempotent", False)),
            "idempotentMembers": sorted(operation.idempotent_members),
        }
        roots.extend(s for s in (operation.input_shape, operation.output_shape) if s is not None)
        roots.extend(operation.error_shapes)
    shapes: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        shape = pending.pop()
        if shape.name in shapes:
            continue
        shapes[shape.name] = _describe_shape(shape)
        pending.extend(_children(shape))
    return {
        "protocol": model.protocol,
        "apiVersion": model.api_version,
        "operations": operations,
        "shapes": dict(sorted(shapes.items())),
    }


def fingerprint_text() -> str:
    fingerprint = model_fingerprint(botomodel.service_model("braket"), tuple(sorted(IMPLEMENTED)))
    return json.dumps(fingerprint, indent=1, sort_keys=True) + "\n"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_braket_model_is_the_pinned_one() -> None:
    text = fingerprint_text()
    if sha256(text) == MODEL_PIN_SHA256:
        return
    recorded = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            recorded.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"recorded {SNAPSHOT.name}",
            tofile="botocore installed now",
            n=2,
        )
    )
    raise AssertionError(
        "botocore's Braket model behind the implemented operations changed "
        f"(sha256 {sha256(text)} != pinned {MODEL_PIN_SHA256}).\n"
        "What to do: review the diff below, make hybridjobs handle the change (routes, "
        "validation, errors, serialization), then run "
        "`.venv/bin/python tests/wire/test_model_pin.py` to rewrite the snapshot and paste "
        "the printed hash into MODEL_PIN_SHA256.\n\n" + diff[:20000]
    )


def test_snapshot_matches_the_pinned_hash() -> None:
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: run this file as a script to create it"
    assert sha256(SNAPSHOT.read_text()) == MODEL_PIN_SHA256, (
        f"{SNAPSHOT.name} and MODEL_PIN_SHA256 disagree: update both together by running "
        "`.venv/bin/python tests/wire/test_model_pin.py`."
    )


def test_fingerprint_covers_constraints_and_routes() -> None:
    fingerprint = json.loads(fingerprint_text())
    assert fingerprint["operations"]["CreateJob"]["http"] == {
        "method": "POST",
        "requestUri": "/job",
        "responseCode": 201,
    }
    assert fingerprint["shapes"]["JobArn"]["pattern"].startswith("arn:aws")
    assert fingerprint["shapes"]["ValidationException"]["error"]["httpStatusCode"] == 400
    assert fingerprint["shapes"]["GetJobRequest"]["members"]["jobArn"]["location"] == "uri"


if __name__ == "__main__":
    current = fingerprint_text()
    SNAPSHOT.write_text(current)
    print(f"wrote {SNAPSHOT}; MODEL_PIN_SHA256 = {sha256(current)!r}", file=sys.stderr)
