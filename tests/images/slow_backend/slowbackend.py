"""A PEP 517 build backend that never finishes building: it writes its pid to the file
named by ``SLOW_BUILD_MARKER`` (or ``building.pid`` beside it) and sleeps, so
a test can cancel a job while its image environment builds (no network needed)."""

import os
import time
from pathlib import Path

MARKER = Path(os.environ.get("SLOW_BUILD_MARKER", Path(__file__).with_name("building.pid")))


def _hang() -> None:
    MARKER.write_text(str(os.getpid()))
    time.sleep(600)
    raise RuntimeError("this backend never builds anything")


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _hang()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _hang()
