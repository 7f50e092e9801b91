"""Edges of ``hybridjobs run`` and ``hybridjobs scheduler``: events and log lines printed
in the order they happened, warnings about what a directory packs, a module entry point
that only defines ``main``, and the API address a separate scheduler gives its jobs."""

from __future__ import annotations

import argparse
import datetime
import io
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.cli import EXAMPLES, explain, hybridjobs, ok
from support.server import LiveServer

from hybridjobs.cli import pack, run, serve
from hybridjobs.cli.exits import UsageError
from hybridjobs.cli.follow import FollowOptions, JobFollower
from hybridjobs.cli.render import Output

# -- events and lines in time order ----------------------------------------------------

ARN = "arn:aws:braket:us-east-1:000000000000:job/11111111-2222-3333-4444-555555555555"
T0 = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def _ms(seconds: float) -> int:
    return int(_at(seconds).timestamp() * 1000)


class _Logs:
    """``describe_log_streams``/``get_log_events`` of one stream, fed by the rounds."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def describe_log_streams(self, **_: Any) -> dict[str, Any]:
        return {
            "logStreams": [{"logStreamName": "job/11111111-2222-3333-4444-555555555555/algo-1-1"}]
        }

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        start = int(str(request.get("nextToken") or "f/0").split("/")[1])
        return {"events": self.events[start:], "nextForwardToken": f"f/{len(self.events)}"}


class _Connection:
    """Plays ``rounds``: each GetJob answers the next job state, and after it the log
    stream grows by that round's lines (written after GetJob looked)."""

    def __init__(self, rounds: list[tuple[str, list[tuple[str, float]], list[tuple[str, float]]]]):
        self.rounds = rounds
        self.logs = _Logs()
        self.events: list[dict[str, Any]] = []
        self.round = 0

    def get_job(self, arn: str) -> dict[str, Any]:
        status, events, lines = self.rounds[min(self.round, len(self.rounds) - 1)]
        if self.round < len(self.rounds):
            self.events += [
                {"eventType": k, "timeOfEvent": _at(t), "message": k} for k, t in events
            ]
            self.logs.events += [{"timestamp": _ms(t), "message": m} for m, t in lines]
        self.round += 1
        return {
            "jobArn": ARN,
            "jobName": "job",
            "status": status,
            "createdAt": T0,
            "events": list(self.events),
        }


def _follow(rounds: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr("hybridjobs.cli.follow.POLL_SECONDS", 0.0)
    connection = _Connection(rounds)
    stream = io.StringIO()
    job = {"jobArn": ARN, "jobName": "job"}
    follower = JobFollower(connection, job, Output(stream, "never"), FollowOptions())  # type: ignore[arg-type]
    follower.run()
    return [line for line in stream.getvalue().splitlines() if line]


def _kinds(printed: list[str]) -> list[str]:
    """Each line's message, or its event type."""
    kinds = []
    for line in printed:
        if line.startswith("algo-"):
            kinds.append(line.split("| ", 1)[1])
        else:
            found = re.search(r"\b([A-Z_]{4,})\b", line)
            kinds.append(found.group(1) if found else line)
    return kinds


def test_lines_read_before_their_event_shows_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Round 1: GetJob shows only QUEUED...; the instance then starts (RUNNING at t=2, not
    # yet visible) and prints three lines that the same round's log read returns.
    rounds = [
        ("RUNNING", [("QUEUED_FOR_EXECUTION", 0.0)], [("a", 2.1), ("b", 2.2), ("c", 2.3)]),
        ("RUNNING", [("RUNNING", 2.0)], [("d", 3.0)]),
        ("RUNNING", [], [("e", 4.0)]),
        ("COMPLETED", [("COMPLETED", 5.0)], [("f", 4.5)]),
    ]
    printed = _follow(rounds, monkeypatch)
    assert _kinds(printed) == [
        "QUEUED_FOR_EXECUTION",
        "RUNNING",
        "a",
        "b",
        "c",
        "d",
        "e",
        "f",
        "COMPLETED",
    ]


def test_a_line_waits_at_most_one_round_without_events(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds = [
        ("RUNNING", [("RUNNING", 1.0)], [("x", 2.0)]),
        ("RUNNING", [], [("y", 3.0)]),
        ("RUNNING", [], []),
        ("COMPLETED", [("COMPLETED", 9.0)], []),
    ]
    connection_rounds: list[int] = []
    monkeypatch.setattr("hybridjobs.cli.follow.POLL_SECONDS", 0.0)
    connection = _Connection(rounds)
    stream = io.StringIO()
    follower = JobFollower(
        connection,  # type: ignore[arg-type]
        {"jobArn": ARN, "jobName": "job"},
        Output(stream, "never"),
        FollowOptions(),
    )
    original = connection.get_job

    def get_job(arn: str) -> dict[str, Any]:
        connection_rounds.append(stream.getvalue().count("algo-1 |"))
        return original(arn)

    connection.get_job = get_job  # type: ignore[method-assign]
    follower.run()
    # lines shown before each GetJob: x (read after GetJob 1) once GetJob 2 has been
    # read, so before GetJob 3; y (read after GetJob 2) before GetJob 4
    assert connection_rounds == [0, 0, 1, 2]
    assert _kinds(stream.getvalue().splitlines())[-1] == "COMPLETED"


def test_a_job_that_prints_at_once_shows_running_first(server: LiveServer, tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text("for i in range(3000):\n    print(f'line {i}', flush=True)\n")
    result = ok("run", str(script), "--name", f"chatty-{uuid.uuid4().hex[:8]}", endpoint=server.url)
    out = result.stdout.splitlines()
    running = next(i for i, line in enumerate(out) if re.search(r"\bRUNNING\s+Running ", line))
    lines = [i for i, line in enumerate(out) if line.startswith("algo-1 | line ")]
    assert len(lines) == 3000, explain(result)
    assert running < lines[0], explain(result)
    assert [out[i] for i in lines] == [f"algo-1 | line {n}" for n in range(3000)]
    completed = next(i for i, line in enumerate(out) if re.search(r"\bCOMPLETED\s", line))
    assert lines[-1] < completed, explain(result)


# -- what a directory packs -------------------------------------------------------------


def _tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _warnings(root: Path, **limits: int) -> list[str]:
    files = pack.source_files(root)
    return pack.source_warnings(root, files, limits.pop("archive", None), **limits)


def test_a_clean_project_packs_without_a_word(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "p", {"main.py": "print(1)\n", "lib/site.py": "", "requirements.txt": ""}
    )
    assert _warnings(root, archive=1000) == []
    assert pack.source_warnings(root / "main.py", pack.source_files(root / "main.py"), 10**12) == []


def test_a_virtual_environment_is_named_with_its_gitignore_line(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "p",
        {
            "main.py": "",
            ".venv/pyvenv.cfg": "home = /usr/bin\n",
            ".venv/lib/python3.11/site-packages/numpy/__init__.py": "x" * 2048,
            "vendor/lib/site-packages/pkg.py": "",
        },
    )
    warnings = _warnings(root)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("packing .venv/: a Python environment (2 files, 2 KB)")
    assert "`/.venv/`" in warnings[0] and "(there is none)" in warnings[0]
    assert warnings[1].startswith("packing vendor/lib/site-packages/")
    (root / ".gitignore").write_text("/.venv/\n")
    warnings = _warnings(root)
    assert len(warnings) == 1 and warnings[0].startswith("packing vendor/lib/site-packages/")
    assert "(there is none)" not in warnings[0]


def test_large_files_and_a_large_archive_are_named(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "p",
        {"main.py": "", "data/big.npy": b"\0" * 5000, "data/small.csv": b"1,2\n"},
    )
    warnings = _warnings(root, large_file=4096, large_archive=4096, archive=5000)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("packing data/big.npy (5 KB)")
    assert "--input NAME=" in warnings[0] and "`/data/big.npy`" in warnings[0]
    assert warnings[1].startswith("the source archive is 5 KB (3 files)")
    assert _warnings(root, large_file=10**6, large_archive=10**6, archive=5000) == []


def test_run_warns_about_a_packed_environment_on_stderr(server: LiveServer, tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "project",
        {
            "main.py": "print('hello')\n",
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/python3.11/site-packages/thing.py": "",
        },
    )
    name = f"venv-{uuid.uuid4().hex[:8]}"
    result = ok("run", str(root), "--name", name, "--no-wait", endpoint=server.url)
    assert "warning: packing env/: a Python environment (2 files" in result.stderr, explain(result)
    assert "`/env/`" in result.stderr
    assert "warning" not in result.stdout


# -- a module entry point that only defines main -------------------------------------------

ONLY_MAIN = """
import sys

def main(iterations: int = 5) -> None:
    print(iterations)
"""


@pytest.mark.parametrize(
    ("code", "uncalled"),
    [
        (ONLY_MAIN, True),
        ("async def main():\n    pass\n", True),
        (ONLY_MAIN + 'if __name__ == "__main__":\n    main()\n', False),
        (ONLY_MAIN + "if '__main__' == __name__:\n    pass\n", False),
        (ONLY_MAIN + "main()\n", False),
        (ONLY_MAIN + "sys.exit(main())\n", False),
        (ONLY_MAIN + "try:\n    main()\nexcept Exception:\n    raise\n", False),
        ("def helper():\n    main()\n\ndef main():\n    pass\n", True),
        ("print('work at import')\n", False),
        ("class main:\n    pass\n", False),
        ("def main(:\n", False),
    ],
)
def test_defines_uncalled_main(code: str, uncalled: bool) -> None:
    assert run.defines_uncalled_main(textwrap.dedent(code)) is uncalled


def test_the_warning_names_the_entry_point_to_use(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"algo.py": ONLY_MAIN, "pkg/train.py": ONLY_MAIN})
    warning = run.uncalled_main_warning(root, "algo")
    assert warning is not None and "--entry-point algo:main" in warning
    assert "--entry-point pkg.train:main" in (run.uncalled_main_warning(root, "pkg.train") or "")
    assert run.uncalled_main_warning(root, "algo:main") is None
    assert run.uncalled_main_warning(root, "missing") is None
    assert "--entry-point algo:main" in (run.uncalled_main_warning(root / "algo.py", "algo") or "")


def test_running_the_qaoa_directory_suggests_its_main(server: LiveServer) -> None:
    source = EXAMPLES / "qaoa_checkpoints"
    name = f"qaoa-dir-{uuid.uuid4().hex[:8]}"
    result = ok("run", str(source), "--name", name, "--no-wait", endpoint=server.url)
    assert "qaoa.py defines main() but nothing in it calls main" in result.stderr, explain(result)
    assert "--entry-point qaoa:main" in result.stderr
    quiet = ok(
        "run", str(source), "--entry-point", "qaoa:main", "--hp", "iterations=1",
        "--name", f"{name}-fn", "--no-wait", endpoint=server.url,
    )  # fmt: skip
    assert "warning" not in quiet.stderr, explain(quiet)


@pytest.mark.parametrize(
    "readme", sorted(EXAMPLES.glob("*/README.md")), ids=lambda p: p.parent.name
)
def test_readme_commands_name_their_entry_point(readme: Path) -> None:
    """Every ``hybridjobs run`` in an example's README either names a function or runs a
    module that does something when run as ``__main__``; no ``<placeholder>``s."""
    text = "\n".join(re.findall(r"```sh\n(.*?)```", readme.read_text(), re.S))
    commands = re.findall(r"hybridjobs run (\S+)((?:[^\n]*\\\n)*[^\n]*)", text)
    assert commands or readme.parent.name == "bell", readme
    for source, rest in commands:
        assert "<" not in rest, rest
        given = re.search(r"--entry-point (\S+)", rest)
        path = Path(readme.parents[2], source)
        entry = run.default_entry_point(path, given.group(1) if given else None)
        assert run.uncalled_main_warning(path, entry) is None, (readme, source, entry)
    assert not re.search(r"<[a-z ]+>", text), readme


# -- the API address of a separate scheduler -------------------------------------------------


def _scheduler_args(*argv: str) -> argparse.Namespace:
    from hybridjobs.cli import build_parser

    return build_parser().parse_args(["scheduler", *argv])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in ("HYBRIDJOBS_HOST", "HYBRIDJOBS_PORT", "HYBRIDJOBS_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def _endpoint_url(*argv: str) -> tuple[str, str]:
    from hybridjobs.settings import Settings

    args = _scheduler_args(*argv)
    values, origin = serve.scheduler_endpoint(args)
    return Settings(**values).endpoint_url, origin


def test_scheduler_endpoint_precedence(clean_env: pytest.MonkeyPatch) -> None:
    assert _endpoint_url() == ("http://127.0.0.1:8750", "the default")
    clean_env.setenv("HYBRIDJOBS_ENDPOINT", "http://api.local:9100/")
    assert _endpoint_url() == ("http://api.local:9100", "HYBRIDJOBS_ENDPOINT")
    clean_env.setenv("HYBRIDJOBS_PORT", "9200")
    assert _endpoint_url() == ("http://127.0.0.1:9200", "HYBRIDJOBS_HOST/HYBRIDJOBS_PORT")
    clean_env.setenv("HYBRIDJOBS_HOST", "0.0.0.0")
    assert _endpoint_url() == ("http://127.0.0.1:9200", "HYBRIDJOBS_HOST/HYBRIDJOBS_PORT")
    assert _endpoint_url("--endpoint-port", "9300") == ("http://127.0.0.1:9300", "--endpoint-port")
    assert _endpoint_url("--endpoint", "http://10.0.0.5:9400", "--endpoint-port", "1") == (
        "http://10.0.0.5:9400",
        "--endpoint",
    )
    assert _endpoint_url("--endpoint", "http://api.internal") == (
        "http://api.internal:80",
        "--endpoint",
    )


@pytest.mark.parametrize(
    "url", ["https://api:1", "api.local:9000", "http://:9000", "http://h:x", "http://h:1/p"]
)
def test_scheduler_refuses_an_endpoint_it_cannot_give_jobs(
    url: str, clean_env: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="http://HOST:PORT"):
        serve.scheduler_endpoint(_scheduler_args("--endpoint", url))


def test_scheduler_with_a_bad_endpoint_exits_2(tmp_path: Path) -> None:
    result = hybridjobs(
        "scheduler", "--data-dir", str(tmp_path), "--endpoint", "https://x:1", endpoint=None
    )
    assert result.returncode == 2, explain(result)
    assert "http://HOST:PORT" in result.stderr
