"""``hybridjobs images``: help, the listing of an empty data directory, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridjobs.cli import main


def test_help_has_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["images", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "hybridjobs images add" in text and "exit codes:" in text


def test_listing_shows_the_braket_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["images", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["environment"], row["state"]) for row in rows] == [
        ("base", "service interpreter"),
        ("pytorch", "not built (builds on first use)"),
        ("tensorflow", "not built (builds on first use)"),
        ("cudaq", "not built (builds on first use)"),
    ]
    assert main(["images", "--data-dir", str(tmp_path)]) == 0
    assert "amazon-braket-pytorch-jobs" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nobody:1"
    assert main(["images", "build", unknown, "--data-dir", str(tmp_path)]) == 2
    assert "hybridjobs images add" in capsys.readouterr().err
    missing = tmp_path / "missing.txt"
    assert (
        main(
            ["images", "add", unknown, "--requirements", str(missing), "--data-dir", str(tmp_path)]
        )
        == 2
    )
    assert "--requirements" in capsys.readouterr().err
    assert main(["images", "add", unknown, "--data-dir", str(tmp_path)]) == 2
    assert "--python PATH, --requirements FILE and --container IMAGE" in capsys.readouterr().err
    assert main(["images", "add", unknown, "--runtime", "podman", "--data-dir", str(tmp_path)]) == 2
    assert "--runtime goes with --container" in capsys.readouterr().err
