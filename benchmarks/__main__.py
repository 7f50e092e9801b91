"""Run benchmarks by name: ``python -m benchmarks [NAME [ARGS...]]``.

With no name every registered benchmark runs with its defaults; ``list`` prints the names.
Each benchmark is a module with ``main(argv: list[str]) -> int``; register new ones in
``BENCHMARKS``.
"""

from __future__ import annotations

import importlib
import sys

# name -> module (imported only when the benchmark runs).
BENCHMARKS: dict[str, str] = {
    "api": "benchmarks.api_throughput",
    "sdk_create_wait": "benchmarks.sdk_create_wait",
    "jobs": "benchmarks.suite",
    "burst": "benchmarks.burst",
    "tasks": "benchmarks.tasks",
    "ray": "benchmarks.ray_runner",
    "console": "benchmarks.console",
    "usage": "benchmarks.usage_overhead",
    "observability": "benchmarks.observability_overhead",
    "disk": "benchmarks.disk_retention",
    "auth": "benchmarks.auth_overhead",
    "torture": "benchmarks.torture",
    "idle_memory": "benchmarks.idle_memory",
    "containers": "benchmarks.containers",
}


def run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(BENCHMARKS[name])
    code: int = module.main(argv)
    return code


def main(argv: list[str]) -> int:
    if not argv:
        failures = [name for name in BENCHMARKS if run(name, []) != 0]
        return 1 if failures else 0
    name, rest = argv[0], argv[1:]
    if name in ("list", "-h", "--help"):
        print(__doc__.strip() if name != "list" else "")
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return run(name, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
