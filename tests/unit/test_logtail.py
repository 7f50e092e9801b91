"""LogTail: incremental, line-exact shipping of instance output; metrics parsing."""

from __future__ import annotations

from pathlib import Path

from hybridjobs.jobs.metrics import parse_metric_line as parse_metrics
from hybridjobs.logtail import _MAX_LINE, LogTail
from hybridjobs.store.base import MetricPoint


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)


def _messages(tail: LogTail, final: bool = False) -> list[str]:
    events, _metrics = tail.read(final=final)
    assert {e.instance for e in events} <= {tail.instance}
    return [e.message for e in events]


def test_missing_file_reads_nothing(tmp_path: Path) -> None:
    tail = LogTail("algo-1", tmp_path / "absent.log")
    assert _messages(tail) == []
    assert _messages(tail, final=True) == []
    assert tail.consumed == 0


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    tail = LogTail("algo-1", log)
    _append(log, b"first\nsec")
    assert _messages(tail) == ["first"]
    assert tail.consumed == len(b"first\n")
    _append(log, b"ond\r\nthi")
    assert _messages(tail) == ["second"]  # carriage return stripped
    assert _messages(tail) == []
    assert tail.consumed == len(b"first\nsecond\r\n")
    assert _messages(tail, final=True) == ["thi"]  # the partial last line, at the very end
    assert tail.consumed == log.stat().st_size


def test_resuming_from_consumed_ships_every_line_once(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    first = LogTail("algo-1", log)
    _append(log, b"a\nb\npart")
    assert _messages(first) == ["a", "b"]
    _append(log, b"ial\nc\n")
    resumed = LogTail("algo-1", log, offset=first.consumed)  # as after a restart
    assert _messages(resumed) == ["partial", "c"]


def test_empty_lines_and_invalid_utf8_are_kept(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    _append(log, b"\n\xff\xfeok\n")
    assert _messages(LogTail("algo-1", log)) == ["", "\ufffd\ufffdok"]


def test_a_huge_line_is_shipped_before_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    _append(log, b"x" * (_MAX_LINE + 10))
    tail = LogTail("algo-1", log)
    assert [len(m) for m in _messages(tail)] == [_MAX_LINE + 10]
    assert tail.consumed == _MAX_LINE + 10


def test_metrics_are_parsed_from_shipped_lines(tmp_path: Path) -> None:
    log = tmp_path / "algo-2.log"
    _append(log, b"Metrics - timestamp=1700000000.5; loss=0.25;\nplain output\n")
    events, metrics = LogTail("algo-2", log).read()
    assert len(events) == 2
    assert metrics == [MetricPoint("algo-2", 1700000000.5, "loss", 0.25, None)]


def test_parse_metrics_line_formats() -> None:
    assert parse_metrics("no metrics here", "algo-1", 5.0) == []
    assert parse_metrics(
        "Metrics - timestamp=12.5; cost=-1.5; iteration_number=3;", "algo-1", 5.0
    ) == [MetricPoint("algo-1", 12.5, "cost", -1.5, 3)]
    # What braket.jobs.metrics.log_metric prints, with the iteration appended.
    line = "Metrics - timestamp=1700000001.25; energy=1e-3; iteration_number=7;"
    assert parse_metrics(line, "algo-1", 5.0) == [
        MetricPoint("algo-1", 1700000001.25, "energy", 0.001, 7)
    ]


def test_parse_metrics_several_values_and_defaults() -> None:
    points = parse_metrics("Metrics - a=1; b = 2.5 ; label=text;", "algo-3", 42.0)
    assert points == [
        MetricPoint("algo-3", 42.0, "a", 1.0, None),  # no timestamp: the time it was seen
        MetricPoint("algo-3", 42.0, "b", 2.5, None),
    ]  # a value that is not a number is skipped
    assert parse_metrics("Metrics - timestamp=oops; a=1;", "algo-1", 7.0) == [
        MetricPoint("algo-1", 7.0, "a", 1.0, None)
    ]


def test_parse_metrics_node_tag_of_mpi_tagged_output() -> None:
    line = "[1,0]<stdout>:Metrics - timestamp=3.0; loss=0.5; iteration_number=2;"
    assert parse_metrics(line, "algo-1", 9.0) == [MetricPoint("algo-1[1,0]", 3.0, "loss", 0.5, 2)]
    # A prefix before the marker that is not a node tag does not change the source.
    assert parse_metrics("INFO Metrics - loss=1;", "algo-2", 9.0)[0].instance == "algo-2"


def test_the_final_read_ships_every_byte_split_only_at_line_ends(tmp_path: Path) -> None:
    """Tens of MB written in an instance's last moments: the final read takes all of it
    (not one 4 MiB chunk), every line whole (issue 12)."""
    log = tmp_path / "algo-1.log"
    lines = [f"line {i} of a chatty training loop" for i in range(600_000)]
    _append(log, ("\n".join(lines) + "\nno newline at the end").encode())
    assert log.stat().st_size > 20 * 2**20
    tail = LogTail("algo-1", log)

    assert _messages(tail, final=True) == [*lines, "no newline at the end"]
    assert tail.consumed == log.stat().st_size


def test_reads_before_the_end_take_a_chunk_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    lines = [f"{i:09d}" for i in range(1_000_000)]  # 10 MB
    _append(log, ("\n".join(lines) + "\n").encode())
    tail = LogTail("algo-1", log)

    first = _messages(tail)
    assert 0 < len(first) < len(lines) and first == lines[: len(first)]
    rest: list[str] = []
    while chunk := _messages(tail):
        rest.extend(chunk)
    assert first + rest == lines
