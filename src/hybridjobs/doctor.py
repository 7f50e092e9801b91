"""``hybridjobs doctor``: check what a service needs on this host, and say what to fix.

Each check returns a :class:`Finding`: ``ok``, ``warn`` (works, but worse than it could)
or ``fail`` (the service or its jobs will not work); every non-``ok`` finding carries the
fix. Checks only read, except for a probe file in the data directory (removed again) and
the throw-away sandbox and cgroup the sandbox probe makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from hybridjobs.settings import Settings

Level = Literal["ok", "warn", "fail"]
_IMPORT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Finding:
    """The result of one check: what was checked, how it went, and the fix."""

    check: str
    level: Level
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Finding]:
    """Every check, in order; a check that raises is a ``fail`` naming the exception."""
    findings: list[Finding] = []
    checks: list[tuple[str, Callable[[Settings], Iterator[Finding]]]] = [
        ("data directory", _data_dir),
        ("free disk", _free_disk),
        ("database", _database),
        ("object store", _object_store),
        ("warm pool", _warm_pool),
        ("sandbox", _sandbox),
        ("container images", _container_images),
    ]
    for name, check in checks:
        try:
            findings.extend(check(settings))
        except Exception as exc:
            findings.append(Finding(name, "fail", f"{type(exc).__name__}: {exc}"))
    return findings


def _data_dir(settings: Settings) -> Iterator[Finding]:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        yield Finding(
            "data directory",
            "fail",
            f"{path} is not writable: {exc.strerror or exc}",
            f"create it and give the service's user write access (chown {os.getuid()} {path}), "
            "or pick another with --data-dir",
        )
        return
    yield Finding("data directory", "ok", f"{path} is writable")


def _free_disk(settings: Settings) -> Iterator[Finding]:
    path = settings.data_dir if settings.data_dir.exists() else settings.data_dir.parent
    usage = shutil.disk_usage(path)
    free_gib = usage.free / 2**30
    floor = settings.min_free_disk_gib
    detail = f"{free_gib:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {path}"
    if free_gib < floor:
        yield Finding(
            "free disk",
            "fail",
            f"{detail}, under the {floor:g} GiB minimum: queued jobs wait",
            "free space, run `hybridjobs gc`, shorten the retention ages, or lower "
            "HYBRIDJOBS_MIN_FREE_DISK_GIB",
        )
    elif free_gib < 4 * floor:
        yield Finding("free disk", "warn", f"{detail}; jobs wait below {floor:g} GiB", "free space")
    else:
        yield Finding("free disk", "ok", detail)


def _database(settings: Settings) -> Iterator[Finding]:
    from hybridjobs.store.migrations import LATEST_VERSION
    from hybridjobs.store.sqlengine import create_engine

    url = settings.resolved_db_url
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            tables = sa.inspect(connection).get_table_names()
            version = None
            if "schema_version" in tables:
                version = connection.execute(
                    sa.text("SELECT max(version) FROM schema_version")
                ).scalar()
    except sa.exc.SQLAlchemyError as exc:
        yield Finding(
            "database",
            "fail",
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: "
            f"{str(exc).splitlines()[0]}",
            "start the database, or fix --db-url / HYBRIDJOBS_DB_URL",
        )
        return
    finally:
        engine.dispose()
    dialect = engine.dialect.name
    latest = LATEST_VERSION
    if version is None:
        yield Finding(
            "database", "ok", f"{dialect} answers; empty (the service creates its tables)"
        )
    elif version > latest:
        yield Finding(
            "database",
            "fail",
            f"{dialect} schema version {version} is newer than this hybridjobs ({latest})",
            "upgrade hybridjobs to the version that wrote this database",
        )
    else:
        yield Finding("database", "ok", f"{dialect} answers; schema version {version} of {latest}")


def _object_store(settings: Settings) -> Iterator[Finding]:
    from hybridjobs.server import open_objects

    where = settings.objects or settings.s3_endpoint_url or str(settings.objects_dir)
    try:
        buckets = open_objects(settings).list_buckets()
    except Exception as exc:
        yield Finding(
            "object store",
            "fail",
            f"cannot list the buckets of {where}: {exc}",
            "check --objects, HYBRIDJOBS_S3_ENDPOINT_URL and the HYBRIDJOBS_S3_* credentials",
        )
        return
    yield Finding("object store", "ok", f"{where}: {len(buckets)} bucket(s)")


def _warm_pool(settings: Settings) -> Iterator[Finding]:
    python = settings.python_executable
    if shutil.which(python) is None and not os.access(python, os.X_OK):
        yield Finding(
            "warm pool", "fail", f"the jobs' interpreter {python} is missing", "install it"
        )
        return
    if not settings.warm_pool or settings.warm_pool_size <= 0:
        yield Finding("warm pool", "ok", "disabled: every instance starts cold")
        return
    modules = settings.warm_pool_preload
    probe = (
        "import importlib, sys\n"
        "missing = []\n"
        f"for name in {modules!r}:\n"
        "    try: importlib.import_module(name)\n"
        "    except Exception as exc: missing.append(f'{name} ({type(exc).__name__}: {exc})')\n"
        "print('; '.join(missing))\n"
    )
    done = subprocess.run(
        [python, "-c", probe],
        capture_output=True,
        text=True,
        timeout=_IMPORT_TIMEOUT,
        check=False,
    )
    missing = done.stdout.strip()
    if done.returncode != 0 or missing:
        yield Finding(
            "warm pool",
            "warn",
            f"{python} cannot preload: {missing or done.stderr.strip()[-300:]}",
            "install the missing packages (pip install 'hybridjobs[pennylane]') or set "
            "HYBRIDJOBS_WARM_POOL_PRELOAD to what jobs use; instances start slower meanwhile",
        )
        return
    yield Finding(
        "warm pool",
        "ok",
        f"{settings.warm_pool_size} zygote(s) of {python} preload {len(modules)} modules",
    )


def _sandbox(settings: Settings) -> Iterator[Finding]:
    from hybridjobs.sandbox.cgroups import detect_cgroups
    from hybridjobs.sandbox.select import SandboxUnavailable, probe_bwrap
    from hybridjobs.sandbox.setup import confinement_for

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        yield Finding(
            "sandbox: bubblewrap",
            "warn",
            "bwrap is not installed: instances cannot be sandboxed",
            "apt-get install bubblewrap",
        )
    else:
        failed = probe_bwrap(bwrap)
        if failed is None:
            yield Finding("sandbox: bubblewrap", "ok", f"{bwrap} makes sandboxes")
        else:
            yield Finding(
                "sandbox: bubblewrap",
                "warn",
                f"{bwrap} cannot make a sandbox here: {failed}",
                "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
                "or run the service with the privileges bwrap needs",
            )
    cgroups, text = detect_cgroups()
    if cgroups is None:
        yield Finding(
            "sandbox: cgroups",
            "warn",
            f"no memory or process limits for instances: {text}",
            "run the service in a delegated cgroup v2 subtree (systemd: Delegate=yes)",
        )
    else:
        yield Finding("sandbox: cgroups", "ok", text)
    try:
        confinement = confinement_for(settings)
    except SandboxUnavailable as exc:
        yield Finding("sandbox", "fail", str(exc), "see the lines above")
        return
    yield Finding("sandbox", "ok", f"jobs would run with {confinement.summary}")


def _container_images(settings: Settings) -> Iterator[Finding]:
    """Images mapped to real containers: their runtime is installed and has the image (a
    missing image is pulled at the first job: a warning, not a failure)."""
    from hybridjobs.environments.containers import find_runtime, image_present
    from hybridjobs.environments.placement import image_catalog

    catalog = image_catalog(settings)
    for uri in sorted(catalog.mappings()):
        environment = catalog.resolve(uri)
        if environment is None or environment.kind != "container":
            continue
        check = f"container image {uri}"
        runtime = find_runtime(environment.runtime)
        if runtime is None:
            yield Finding(
                check,
                "fail",
                f"runs as a container of {environment.image}, but "
                f"{environment.runtime or 'podman or docker'} is not installed",
                "apt-get install podman, or map the image with hybridjobs images add URI "
                "--requirements FILE or --python PATH",
            )
        elif not image_present(runtime, environment.image):
            yield Finding(
                check,
                "warn",
                f"{environment.image} is not in {runtime}'s storage; the first job pulls it",
                f"hybridjobs images build {uri}",
            )
        else:
            yield Finding(check, "ok", f"{environment.image} with {runtime}")
