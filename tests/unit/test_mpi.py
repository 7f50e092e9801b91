"""The mpirun command line built for MPI jobs."""

from __future__ import annotations

from pathlib import Path

from hybridjobs.runners.mpi import mpi_requested, mpirun_argv, rank_count


def test_mpi_requested_reads_the_sagemaker_flag_case_insensitively() -> None:
    assert mpi_requested({"sagemaker_mpi_enabled": "True"})
    assert not mpi_requested({"sagemaker_mpi_enabled": "false"})
    assert not mpi_requested({})


def test_rank_count_is_instances_times_processes_per_host_unless_explicit() -> None:
    assert rank_count({}, 3) == 3
    assert rank_count({"sagemaker_mpi_num_of_processes_per_host": "2"}, 3) == 6
    assert rank_count({"sagemaker_mpi_num_processes": "4"}, 3) == 4


def test_mpirun_argv_tags_output_and_runs_the_bootstrap() -> None:
    argv = mpirun_argv(
        "/usr/bin/mpirun",
        {"sagemaker_mpi_custom_mpi_options": "-x FOO --verbose"},
        2,
        "/venv/bin/python",
        Path("/data/spec.json"),
    )
    assert argv[0] == "/usr/bin/mpirun"
    assert "--tag-output" in argv
    assert argv[argv.index("-np") + 1] == "2"
    assert argv[-4:] == ["/venv/bin/python", "-m", "hybridjobs.bootstrap", "/data/spec.json"]
    assert argv.index("--verbose") < argv.index("/venv/bin/python")
