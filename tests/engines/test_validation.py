"""validate(): every rule names its problem; valid tasks pass (and repeat texts are cheap)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engines.gate_corpus import (
    BELL,
    DM1_ARN,
    NOISY,
    SV1_ARN,
    TN1_ARN,
    VARIATIONAL,
    capabilities,
)
from hybridjobs.engines import EngineRequest, validate_request
from hybridjobs.engines.base import TaskValidationError

SV_CAPS = capabilities("braket_sv", 4)
DM_CAPS = capabilities("braket_dm", 4)


def _tn_caps() -> str:
    document = json.loads(SV_CAPS)
    del document["action"]["braket.ir.jaqcd.program"]
    del document["action"]["braket.ir.openqasm.program_set"]
    action = document["action"]["braket.ir.openqasm.program"]
    action["supportedResultTypes"] = [
        rt for rt in action["supportedResultTypes"] if rt["name"] in ("Sample", "Expectation")
    ]
    document["service"]["shotsRange"] = [1, 1000]
    return json.dumps(document)


def _restricted(caps: str, **changes: Any) -> str:
    document = json.loads(caps)
    document["action"]["braket.ir.openqasm.program"].update(changes)
    return json.dumps(document)


def program(source: str, inputs: dict[str, Any] | None = None) -> str:
    header = {"name": "braket.ir.openqasm.program", "version": "1"}
    return json.dumps({"braketSchemaHeader": header, "source": source, "inputs": inputs})


def program_set(*programs: tuple[str, dict[str, list[float]] | None]) -> str:
    header = {"name": "braket.ir.openqasm.program_set", "version": "1"}
    items = [
        {"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}}
        | {"source": source, "inputs": inputs}
        for source, inputs in programs
    ]
    return json.dumps({"braketSchemaHeader": header, "programs": items})


def jaqcd(instructions: list[dict[str, Any]], results: list[dict[str, Any]]) -> str:
    header = {"name": "braket.ir.jaqcd.program", "version": "1"}
    return json.dumps(
        {"braketSchemaHeader": header, "instructions": instructions, "results": results}
    )


def request(
    action: str,
    shots: int = 0,
    caps: str = SV_CAPS,
    arn: str = SV1_ARN,
    parameters: str | None = None,
) -> EngineRequest:
    engine = {SV1_ARN: "braket_sv", DM1_ARN: "braket_dm", TN1_ARN: "braket_tn"}[arn]
    return EngineRequest(
        task_arn="arn:aws:braket:us-west-2:000000000000:quantum-task/t",
        device_arn=arn,
        engine=engine,
        action=action,
        shots=shots,
        device_parameters=parameters,
        device_capabilities=caps,
    )


def qasm(*lines: str) -> str:
    return "\n".join(("OPENQASM 3.0;", *lines))


PROB = "#pragma braket result probability"
INVALID = [
    ("malformed json", request("{not json"), "action: not valid JSON"),
    ("no header", request('{"source": "x"}'), "action: braketSchemaHeader.name is missing"),
    (
        "unknown action type",
        request(
            json.dumps({"braketSchemaHeader": {"name": "braket.ir.ahs.program", "version": "1"}})
        ),
        "action: action type 'braket.ir.ahs.program' is not supported by SV1",
    ),
    (
        "program set not offered",
        request(program_set((BELL, None)), 10, _tn_caps(), TN1_ARN),
        "action: action type 'braket.ir.openqasm.program_set' is not supported by TN1",
    ),
    (
        "schema violation",
        request(
            json.dumps(
                {"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}}
            )
        ),
        "action: source: field required",
    ),
    (
        "syntax error",
        request(program(qasm("qubit[2] q;", "h q[0]", "cnot q[0], q[1];", PROB))),
        "action: the OpenQASM program does not parse: line 4: missing ';' at 'cnot'",
    ),
    (
        "too many qubits",
        request(program(qasm("qubit[5] q;", "h q[0];", PROB))),
        "action: the program uses 5 qubits; SV1 supports at most 4",
    ),
    (
        "too many physical qubits",
        request(program(qasm("h $0; h $1; h $2; h $7; cnot $0, $9;", PROB))),
        "action: the program uses 5 qubits",
    ),
    (
        "gate not supported",
        request(
            program(qasm("qubit[2] q;", "cphaseshift01(0.1) q[0], q[1];", PROB)),
            caps=_restricted(SV_CAPS, supportedOperations=["h", "cnot", "rx"]),
        ),
        "action: gate 'cphaseshift01' is not supported by SV1; supported: h, cnot, rx",
    ),
    (
        "unknown gate",
        request(program(qasm("qubit[2] q;", "cx q[0], q[1];", PROB))),
        "action: gate 'cx' is not supported by SV1",
    ),
    (
        "noise on a state vector",
        request(program(qasm("qubit q;", "#pragma braket noise bit_flip(0.1) q[0]", PROB))),
        "action: noise 'bit_flip' is not supported by SV1; noise needs a density-matrix",
    ),
    (
        "modifier not supported",
        request(
            program(qasm("qubit q;", "pow(2) @ x q[0];", PROB)),
            caps=_restricted(SV_CAPS, supportedModifiers=[{"name": "ctrl"}]),
        ),
        "action: gate modifier 'pow' is not supported by SV1",
    ),
    (
        "result type not supported",
        request(
            program(qasm("qubit q;", "h q[0];", "#pragma braket result state_vector")),
            caps=DM_CAPS,
            arn=DM1_ARN,
        ),
        "action: result type 'StateVector' is not supported by DM1",
    ),
    (
        "adjoint gradient not supported",
        request(
            program(
                qasm(
                    "qubit q;",
                    "h q[0];",
                    "#pragma braket result adjoint_gradient expectation(z(q[0])) all",
                )
            )
        ),
        "action: result type 'AdjointGradient' is not supported by SV1",
    ),
    (
        "observable not supported",
        request(
            program(qasm("qubit q;", "h q[0];", "#pragma braket result expectation y(q[0])")),
            caps=_restricted(
                SV_CAPS,
                supportedResultTypes=[
                    {"name": "Expectation", "observables": ["z"], "minShots": 0, "maxShots": 10}
                ],
            ),
        ),
        "action: observable 'y' of result type 'Expectation' is not supported by SV1",
    ),
    (
        "shots above range",
        request(program(qasm("qubit q;", PROB)), 200_000),
        "shots: 200000 is outside SV1's range [0, 100000]",
    ),
    (
        "shots below range",
        request(program(qasm("qubit q;", "h q[0];", PROB)), 0, _tn_caps(), TN1_ARN),
        "shots: 0 is outside TN1's range [1, 1000]",
    ),
    (
        "sample without shots",
        request(program(qasm("qubit q;", "h q[0];", "#pragma braket result sample z(q[0])"))),
        "action: result type 'Sample' needs shots > 0",
    ),
    (
        "no result types without shots",
        request(program(qasm("qubit q;", "bit b;", "h q[0];", "b = measure q[0];"))),
        "action: a task with shots=0 needs at least one result type",
    ),
    (
        "state vector with shots",
        request(program(qasm("qubit q;", "h q[0];", "#pragma braket result state_vector")), 100),
        "action: result type 'StateVector' is only available with shots=0",
    ),
    (
        "amplitude with shots",
        request(program(qasm("qubit q;", "h q[0];", '#pragma braket result amplitude "0"')), 100),
        "action: result type 'Amplitude' is only available with shots=0",
    ),
    (
        "missing inputs",
        request(program(VARIATIONAL, {"a": 0.1})),
        "action: no value given for input parameter(s) 'b', 'c'",
    ),
    (
        "include of a file",
        request(program(qasm('include "/etc/passwd";', "qubit q;", PROB))),
        "action: include '/etc/passwd' is not supported",
    ),
    (
        "unknown pragma",
        request(program(qasm("qubit q;", "#pragma acme turbo", PROB))),
        "action: line 3: pragma '#pragma acme turbo' is not supported",
    ),
    (
        "malformed result pragma",
        request(program(qasm("qubit q;", "#pragma braket result expectation z(q[0]) @", PROB))),
        "action: line 3: invalid pragma",
    ),
    (
        "device parameters not JSON",
        request(program(qasm("qubit q;", PROB)), parameters="{oops"),
        "deviceParameters: not valid JSON",
    ),
    (
        "jaqcd noise on a state vector",
        request(
            jaqcd(
                [{"type": "bit_flip", "target": 0, "probability": 0.1}], [{"type": "probability"}]
            )
        ),
        "action: noise 'bit_flip' is not supported by SV1",
    ),
    (
        "jaqcd too many qubits",
        request(jaqcd([{"type": "h", "target": q} for q in range(5)], [{"type": "probability"}])),
        "action: the program uses 5 qubits; SV1 supports at most 4",
    ),
    (
        "program set without shots",
        request(program_set((BELL, None))),
        "shots: a program set needs shots > 0",
    ),
    (
        "program set shots not divisible",
        request(
            program_set(
                (BELL, None), (VARIATIONAL, {"a": [1.0, 2.0], "b": [0.0, 0.1], "c": [1.0, 1.0]})
            ),
            100,
        ),
        "shots: 100 cannot be split evenly over the program set's 3 executables",
    ),
    (
        "program set too many executables",
        request(
            program_set((qasm("input float a;", "qubit q;", "rx(a) q[0];"), {"a": [0.1] * 101})),
            101,
        ),
        "action: the program set has 101 executables; SV1 runs at most 100",
    ),
    (
        "program set shots above the limit",
        request(program_set((BELL, None)), 200_001, capabilities("braket_sv", 4, (0, 10**6))),
        "shots: 200001 exceeds SV1's 200000 shots per program set",
    ),
    (
        "program set program problem",
        request(program_set((BELL, None), (qasm("qubit q;", "cx q[0], q[0];"), None)), 100),
        "action: programs[1]: gate 'cx' is not supported by SV1",
    ),
    (
        "program set missing inputs",
        request(program_set((qasm("input float a;", "qubit q;", "rx(a) q[0];"), None)), 100),
        "action: programs[0]: no value given for input parameter(s) 'a'",
    ),
    (
        "program set inputs not lists",
        request(program_set((BELL, {"a": 0.5}))),  # type: ignore[dict-item]
        "action: programs.0: All Program inputs must be lists",
    ),
]


@pytest.mark.parametrize(("name", "task", "message"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_tasks_name_their_problem(name: str, task: EngineRequest, message: str) -> None:
    with pytest.raises(TaskValidationError) as raised:
        validate_request(task)
    assert str(raised.value).startswith(message), str(raised.value)


VALID = [
    request(program(BELL)),
    request(program(BELL), 1000),
    request(program(VARIATIONAL, {"a": 0.1, "b": 0.2, "c": 0.3})),
    request(program(qasm('include "stdgates.inc";', "qubit q;", "h q[0];", PROB))),
    request(program(qasm("h $0;", "cnot $0, $3;", PROB))),
    request(program(NOISY, {"a": 0.1}), caps=DM_CAPS, arn=DM1_ARN),
    request(
        program(qasm("qubit q;", "h q[0];", "#pragma braket result expectation z(q[0])")),
        10,
        _tn_caps(),
        TN1_ARN,
    ),
    request(jaqcd([{"type": "h", "target": 0}], [{"type": "probability"}])),
    request(
        jaqcd(
            [{"type": "h", "target": 0}], [{"type": "sample", "observable": ["z"], "targets": [0]}]
        ),
        10,
    ),
    request(
        program_set(
            (BELL, None), (qasm("input float a;", "qubit q;", "rx(a) q[0];"), {"a": [0.1, 0.2]})
        ),
        30,
    ),
    request(
        program(BELL),
        parameters=json.dumps(
            {
                "braketSchemaHeader": {
                    "name": "braket.device_schema.simulators.gate_model_simulator_device_parameters",
                    "version": "1",
                },
                "paradigmParameters": {"qubitCount": 2},
            }
        ),
    ),
]


@pytest.mark.parametrize("task", VALID, ids=range(len(VALID)))
def test_valid_tasks_pass(task: EngineRequest) -> None:
    validate_request(task)


def test_validating_the_same_text_again_is_cheap() -> None:
    source = qasm(
        *(f"input float t{i};" for i in range(40)),
        "qubit[4] q;",
        *(f"ry(t{i}) q[{i % 4}];" for i in range(40)),
        PROB,
    )
    validate_request(request(program(source, {f"t{i}": 0.0 for i in range(40)})))
    tasks = [
        request(program(source, {f"t{i}": i * 0.01 + k for i in range(40)})) for k in range(100)
    ]
    started = time.perf_counter()
    for task in tasks:
        validate_request(task)
    assert (time.perf_counter() - started) / len(tasks) < 0.002  # parsing alone is ~30 ms
