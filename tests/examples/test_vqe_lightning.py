"""examples/vqe_lightning: hyperparameters bind to main's arguments; VQE converges."""

from __future__ import annotations

import uuid
from pathlib import Path

from support.cli import EXAMPLES, ok, saved_results
from support.server import LiveServer


def test_vqe_binds_hyperparameters_and_reaches_the_ground_energy(
    server: LiveServer, tmp_path: Path
) -> None:
    name = f"vqe-{uuid.uuid4().hex[:10]}"
    ok(
        "run",
        str(EXAMPLES / "vqe_lightning" / "vqe.py"),
        "--entry-point",
        "vqe:main",
        "--device",
        "local:pennylane/lightning.qubit",
        "--hp",
        "iterations=12",
        "--hp",
        "bond_length=0.74",
        "--name",
        name,
        endpoint=server.url,
    )
    results = saved_results(name, server.url, tmp_path / name)
    assert results["iterations"] == 12 and results["bond_length"] == 0.74
    assert results["stepsize"] == 0.4  # the default of the argument nobody set
    assert results["exact_energy"] < -1.13
    assert 0 <= results["error"] < 1e-3
