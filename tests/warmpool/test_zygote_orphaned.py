"""A zygote whose service dies while it still preloads exits at once, instead of importing
on until it first reads its channel (the torture run's "extra process" after a kill)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path


def test_a_preloading_zygote_exits_when_its_pool_goes_away(tmp_path: Path) -> None:
    (tmp_path / "slow_preload.py").write_text(
        "from pathlib import Path\nimport time\n"
        f"Path({str(tmp_path / 'importing')!r}).write_text('1')\n"
        "time.sleep(120)\n"
    )
    ours, theirs = socket.socketpair()
    zygote = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hybridjobs.runners.zygote",
            "--fd",
            str(theirs.fileno()),
            "--preload",
            "slow_preload",
        ],
        pass_fds=[theirs.fileno()],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd="/",
    )
    theirs.close()
    try:
        marker = tmp_path / "importing"
        while not marker.exists():  # the zygote is inside its preload now
            assert zygote.poll() is None, "the zygote ended before its preload"
            with contextlib.suppress(subprocess.TimeoutExpired):
                zygote.wait(timeout=0.05)
        ours.close()  # what a killed service's end of the channel does
        assert zygote.wait(timeout=20) == 0  # the preload alone would take 120 s
    finally:
        if zygote.poll() is None:
            zygote.kill()
            zygote.wait()
