"""The console's pure parts: sessions (signature, expiry of keys), the sign-in redirect,
list filters, log cursors, the histogram and the request of a job's copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from hybridjobs.console.access import SESSION_COOKIE, ConsoleAccess, csrf_ok, session_key
from hybridjobs.console.app import _safe_next
from hybridjobs.console.jobdata import copy_request
from hybridjobs.console.joblist import ListQuery
from hybridjobs.console.jobpages import _cursors
from hybridjobs.console.taskpages import histogram, program_of
from hybridjobs.errors import ValidationException
from hybridjobs.jobs.listorder import SearchOrder
from hybridjobs.jobs.ports import TagMatch


class Keys:
    """Operator keys as the service's key ring answers for them."""

    def __init__(self, keys: dict[str, tuple[str, str]]) -> None:
        self.keys = keys

    def verifying(self) -> bool:
        return bool(self.keys)

    def login(self, access_key: str, secret: str) -> str | None:
        found = self.keys.get(access_key)
        return found[1] if found is not None and found[0] == secret else None

    def known(self, access_key: str) -> bool:
        return access_key in self.keys

    def material(self) -> str:
        return ",".join(f"{k}={v[0]}" for k, v in sorted(self.keys.items()))


def request_with(cookie: str | None, headers: dict[str, str] | None = None) -> Request:
    raw = [(b"host", b"127.0.0.1:8750")]
    if cookie is not None:
        raw.append((b"cookie", f"{SESSION_COOKIE}={cookie}".encode()))
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/console/jobs",
        "query_string": b"",
        "headers": raw,
        "server": ("127.0.0.1", 8750),
    }
    return Request(scope)


def cookie_of(access: ConsoleAccess, session: Any) -> str:
    response = Response()
    access.set_cookie(response, session, secure=False)
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    return header.split(";")[0].split("=", 1)[1]


def test_a_session_is_signed_and_ends_with_its_key(tmp_path: Path) -> None:
    keys = Keys({"AKIDA": ("secret-a", "111111111111")})
    access = ConsoleAccess(session_key(keys, tmp_path), "000000000000", keys)
    assert access.sign_in("AKIDA", "wrong") is None
    assert access.sign_in("", "") is None
    session = access.sign_in("AKIDA", "secret-a")
    assert session is not None and session.account_id == "111111111111"
    cookie = cookie_of(access, session)
    assert access.session_of(request_with(cookie)) == session
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert access.session_of(request_with(tampered)) is None
    del keys.keys["AKIDA"]
    keys.keys["AKIDB"] = ("secret-b", "222222222222")
    assert access.session_of(request_with(cookie)) is None


def test_sessions_without_keys_share_a_key_file(tmp_path: Path) -> None:
    keys = Keys({})
    first, second = session_key(keys, tmp_path), session_key(keys, tmp_path)
    assert first == second and len(first) == 32
    assert (tmp_path / "console-session.key").stat().st_mode & 0o777 == 0o600
    access = ConsoleAccess(first, "000000000000", keys)
    session = access.anonymous()
    assert access.session_of(request_with(cookie_of(access, session))) == session


def test_csrf_needs_the_token_and_our_origin(tmp_path: Path) -> None:
    access = ConsoleAccess(b"k" * 32, "000000000000", Keys({}))
    session = access.anonymous()
    own = {"origin": "http://127.0.0.1:8750"}
    assert csrf_ok(request_with(None, own), session, {"csrf": session.csrf})
    assert not csrf_ok(request_with(None, own), session, {"csrf": "other"})
    assert not csrf_ok(request_with(None, own), session, {})
    evil = {"origin": "https://evil.example"}
    assert not csrf_ok(request_with(None, evil), session, {"csrf": session.csrf})
    referer = {"referer": "https://evil.example/page"}
    assert not csrf_ok(request_with(None, referer), session, {"csrf": session.csrf})


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/jobs/us-west-2/abc", "/console/jobs/us-west-2/abc"),
        ("https://evil.example/console/jobs", "/console/jobs"),
        ("//evil.example/console/", "/console/jobs"),
        ("/elsewhere", "/console/jobs"),
        ("", "/console/jobs"),
    ],
)
def test_sign_in_goes_back_only_to_the_console(target: str, expected: str) -> None:
    assert _safe_next(target) == expected


def test_list_filters_are_search_jobs_filters() -> None:
    query = ListQuery.from_params(
        {"status": "RUNNING", "name": " qaoa ", "created_after": "2026-12-01T10:30", "tag": "a=b"}
    )
    assert query.filters() == [
        {"name": "status", "operator": "EQUAL", "values": ["RUNNING"]},
        {"name": "jobName", "operator": "CONTAINS", "values": ["qaoa"]},
        {"name": "createdAt", "operator": "GTE", "values": ["2026-12-01T10:30:00+00:00"]},
    ]
    assert query.tag_matches() == [TagMatch("a", "b")]
    assert ListQuery(tag="team").tag_matches() == [TagMatch("team", None)]
    assert ListQuery().order() is None  # newest first: the API's own search
    assert ListQuery(sort="name").order() == SearchOrder("name", descending=False)
    assert ListQuery(sort="-status").order() == SearchOrder("status", descending=True)
    assert ListQuery(sort="name").sort_link("name") == "-name"
    assert ListQuery().sort_link("created") == "created"
    assert ListQuery(sort="-name").sort_state("name") == "descending"
    with pytest.raises(ValidationException, match="sort"):
        ListQuery(sort="billable").order()
    assert query.params(token="T")["token"] == "T"
    with pytest.raises(ValidationException, match="status"):
        ListQuery(status="SLEEPING").filters()


def test_log_cursors() -> None:
    assert _cursors("algo-1:12,algo-2:0") == {"algo-1": 12, "algo-2": 0}
    assert _cursors("") == {}
    with pytest.raises(ValidationException, match="after"):
        _cursors("algo-1:x")


def test_histogram_and_program_of_a_result() -> None:
    counted = {"measurements": [[0, 0], [1, 1], [1, 1]]}
    assert histogram(counted) == [("11", 2, 2 / 3), ("00", 1, 1 / 3)]
    shares = {"measurementProbabilities": {"00": 0.5, "11": 0.5}, "taskMetadata": {"shots": 10}}
    assert histogram(shares) == [("00", 5, 0.5), ("11", 5, 0.5)]
    assert histogram(None) == []
    action = {"additionalMetadata": {"action": {"source": "OPENQASM 3.0;"}}}
    assert program_of(action) == "OPENQASM 3.0;"
    assert program_of({}) is None


def test_a_copy_is_the_same_request_under_a_new_name() -> None:
    job = {
        "jobArn": "arn:aws:braket:us-west-2:000000000000:job/x",
        "jobName": "a" * 50,
        "status": "COMPLETED",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "hyperParameters": {"lr": "0.1"},
        "instanceConfig": {"instanceType": "ml.m5.large", "instanceCount": 2},
        "deviceConfig": {"device": "local:braket/default"},
        "events": [],
    }
    copy = copy_request(job, {"team": "qa"})
    assert len(copy["jobName"]) == 50 and "-copy-" in copy["jobName"]
    assert copy["hyperParameters"] == {"lr": "0.1"}
    assert copy["tags"] == {"team": "qa"}
    assert "status" not in copy and "events" not in copy and "jobArn" not in copy
    again = copy_request({**job, "jobName": copy["jobName"]}, {})
    assert again["jobName"].count("-copy-") == 1
