"""The callers of ``/_hybridjobs/status`` (the demo's embedded service, the test suite's
``wait_for_warm_pool``, the benchmark harness) sign with the configured key.

A service with keys configured answers its own paths only to signed requests; these
callers used to send them unsigned, which only worked without keys. They all go through
:func:`hybridjobs.cli.embedded.fetch_status` now, checked here against a live keyed
server (and a keyed embedded service with a real warm pool).
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from support.server import LiveServer

from auth.signing import KEY, REGION, SECRET
from hybridjobs.cli.embedded import EmbeddedService, fetch_status, first_key


def test_status_is_refused_unsigned_and_answered_signed(server: LiveServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        fetch_status(server.url)
    assert unsigned.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as forged:
        fetch_status(server.url, key=(KEY, "not-the-secret"), region=REGION)
    assert forged.value.code == 403

    status = fetch_status(server.url, key=(KEY, SECRET), region=REGION)

    assert status["running_jobs"] == 0
    assert status["warm_pool"] == {"enabled": False}


def test_the_first_configured_key_is_the_one_to_sign_with() -> None:
    assert first_key({}) is None
    assert first_key({"AKIA1": "s1", "AKIA2": "s2"}) == ("AKIA1", "s1")
    assert first_key({"AKIA1": {"secret": "s1", "account": "111122223333"}}) == ("AKIA1", "s1")
    assert first_key({"AKIA1": {"account": "111122223333"}}) is None


def test_the_embedded_service_waits_for_its_warm_pool_with_keys(tmp_path: Path) -> None:
    with EmbeddedService(
        tmp_path, credentials={KEY: SECRET}, warm_pool_size=1, stop_grace_seconds=2
    ) as service:
        assert service.operator_key() == (KEY, SECRET)
        with pytest.raises(urllib.error.HTTPError):
            fetch_status(service.endpoint)  # what wait_warm used to send

        assert service.wait_warm(120)
