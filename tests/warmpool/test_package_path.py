"""Other interpreters (image environments) find ``hybridjobs`` on ``PYTHONPATH`` and nothing
else of the service's installation, even when it is a plain ``pip install``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hybridjobs
from hybridjobs.runners.local import make_package_path, package_path
from hybridjobs.runners.warmpool import zygote_environment

PROBE = "import hybridjobs.bootstrap, numpy; print(hybridjobs.__file__); print(numpy.__file__)"


def _fake_site_packages(tmp_path: Path) -> Path:
    """A service installed into site-packages next to a broken ``numpy`` that an image
    environment must never import."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "hybridjobs").symlink_to(Path(hybridjobs.__file__).resolve().parent)
    (site / "numpy").mkdir()
    (site / "numpy" / "__init__.py").write_text("raise ImportError('the service numpy')\n")
    return site


def _probe(python_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd="/"
    )


def test_the_package_path_holds_only_hybridjobs(tmp_path: Path) -> None:
    site = _fake_site_packages(tmp_path)
    assert "the service numpy" in _probe(site).stderr  # what the directory above would do
    directory = make_package_path(tmp_path / "data", site / "hybridjobs")
    (directory / "stale").write_text("left by an older service")
    assert make_package_path(tmp_path / "data", site / "hybridjobs") == directory
    assert [p.name for p in directory.iterdir()] == ["hybridjobs"]
    probe = _probe(directory)
    assert probe.returncode == 0, probe.stderr
    imported, numpy_file = probe.stdout.split()
    assert Path(imported).parent == directory / "hybridjobs"
    assert not numpy_file.startswith(str(site))


def test_a_moved_package_is_relinked(tmp_path: Path) -> None:
    first = make_package_path(tmp_path, tmp_path / "old" / "hybridjobs")
    again = make_package_path(tmp_path, tmp_path / "new" / "hybridjobs")
    assert first == again
    assert os.readlink(again / "hybridjobs") == str(tmp_path / "new" / "hybridjobs")


def test_other_interpreters_get_the_package_path(tmp_path: Path) -> None:
    other = tmp_path / "image-env" / "bin" / "python"
    other.parent.mkdir(parents=True)
    other.symlink_to(sys.executable)
    env = zygote_environment(str(other))
    assert env["PYTHONPATH"] == str(package_path())
    assert [p.name for p in package_path().iterdir()] == ["hybridjobs"]
    assert "PYTHONPATH" not in zygote_environment(sys.executable)
