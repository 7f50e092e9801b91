"""Packing a job's source (in-process: no service needed)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from hybridjobs.cli.exits import UsageError
from hybridjobs.cli.pack import pack_source, source_files
from hybridjobs.cli.run import default_entry_point, default_job_name


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _names(root: Path) -> list[str]:
    return [name for _, name in source_files(root)]


def test_gitignore_rules_globs_directories_negation_and_nesting(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            ".gitignore": "# comment\n*.log\nbuild/\nout/*\n!out/keep.txt\n/top.txt\n",
            "job.py": "",
            "a.log": "",
            "build/x.py": "",
            "out/drop.txt": "",
            "out/keep.txt": "",
            "top.txt": "",
            "pkg/top.txt": "",
            "pkg/.gitignore": "!important.log\nlocal.cfg\n",
            "pkg/important.log": "",
            "pkg/local.cfg": "",
            "pkg/mod.py": "",
            "pkg/__pycache__/mod.cpython-311.pyc": "",
            ".git/HEAD": "",
        },
    )
    assert _names(root) == [
        ".gitignore",
        "job.py",
        "out/keep.txt",
        "pkg/.gitignore",
        "pkg/important.log",
        "pkg/mod.py",
        "pkg/top.txt",
    ]


def test_a_file_is_packed_under_its_name_and_a_directory_at_the_root(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project", {"main.py": "print(1)\n", "lib/util.py": ""})
    archive = tmp_path / "source.tar.gz"
    assert pack_source(root, archive) == ["lib/util.py", "main.py"]
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["lib/util.py", "main.py"]
    assert pack_source(root / "main.py", archive) == ["main.py"]


def test_default_entry_points(tmp_path: Path) -> None:
    script = _tree(tmp_path, {"algo.py": ""}) / "algo.py"
    assert default_entry_point(script, None) == "algo"
    assert default_entry_point(script, ":start_here") == "algo:start_here"
    assert default_entry_point(script, "other.mod:run") == "other.mod:run"
    with_main = _tree(tmp_path / "a", {"main.py": "", "helper.py": ""})
    assert default_entry_point(with_main, None) == "main"
    single = _tree(tmp_path / "b", {"train.py": "", "_private.py": ""})
    assert default_entry_point(single, None) == "train"
    several = _tree(tmp_path / "c", {"x.py": "", "y.py": ""})
    with pytest.raises(UsageError, match="--entry-point"):
        default_entry_point(several, None)
    with pytest.raises(UsageError):
        default_entry_point(_tree(tmp_path, {"notes.txt": ""}) / "notes.txt", None)


def test_default_job_names_fit_the_pattern(tmp_path: Path) -> None:
    assert default_job_name(tmp_path / "my_algo.v2.py", 1700000000000) == "my-algo-v2-1700000000000"
    long = default_job_name(tmp_path / ("x" * 80 + ".py"), 1700000000000)
    assert len(long) == 50 and long.endswith("-1700000000000")
