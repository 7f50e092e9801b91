"""``hybridjobs images``: the job images this service runs, their environments, and builds.

Works on the service's data directory (``--data-dir`` / ``HYBRIDJOBS_DATA_DIR``), not
through the API: it is the operator's command, like ``serve``.

    hybridjobs images                                   list images, state and size
    hybridjobs images build [IMAGE]                     build an environment ahead
    hybridjobs images add URI --requirements FILE       map an image to requirements
    hybridjobs images add URI --python PATH             map an image to an interpreter
    hybridjobs images add URI --container [IMAGE]       run the image as a real container
                                                        (Podman or Docker must be installed)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hybridjobs.cli.exits import EXIT_CODES_HELP, UsageError
from hybridjobs.cli.render import duration, table
from hybridjobs.environments.build import (
    EnvironmentBuildError,
    build_info,
    disk_bytes,
    ensure_built,
    is_built,
)
from hybridjobs.environments.catalog import Environment, ImageCatalog
from hybridjobs.environments.containers import (
    ensure_image,
    find_runtime,
    image_present,
    image_size,
)
from hybridjobs.environments.images import BASE, BRAKET_REGISTRY, BUILTIN_ENVIRONMENTS
from hybridjobs.environments.placement import image_catalog
from hybridjobs.settings import Settings

EXAMPLES = """\
examples:
  hybridjobs images
  hybridjobs images build pytorch
  hybridjobs images build 292282985366.dkr.ecr.us-west-2.amazonaws.com/amazon-braket-pytorch-jobs:latest
  hybridjobs images add 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-image:1 --requirements requirements.txt
  hybridjobs images add 123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1 --python /opt/venv/bin/python
  hybridjobs images add 123456789012.dkr.ecr.us-east-1.amazonaws.com/boxed:1 --container localhost/boxed:1"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = subparsers.add_parser(
        "images",
        help="job images and the environments they run in (list, build, add)",
        description=__doc__,
        epilog=f"{EXAMPLES}\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(images)
    images.add_argument("--json", action="store_true", help="print the list as JSON")
    images.set_defaults(handler=_list)
    actions = images.add_subparsers(dest="images_command", metavar="ACTION")
    build = actions.add_parser("build", help="build an image's environment now (uv, cached)")
    _add_common(build)
    build.add_argument(
        "image",
        nargs="?",
        help="environment name (pytorch, tensorflow, cudaq) or image URI (default: every "
        "mapped image and shipped environment not built yet); a container image is pulled",
    )
    build.set_defaults(handler=_build)
    add = actions.add_parser(
        "add", help="map an image URI to requirements, an interpreter or a real container"
    )
    _add_common(add)
    add.add_argument("uri", help="the image URI jobs name (containerImage.uri)")
    add.add_argument("--requirements", type=Path, metavar="FILE", help="build from FILE")
    add.add_argument(
        "--python",
        metavar="PATH",
        help="an existing python or virtualenv; with --container, the interpreter inside "
        "the image (default python3)",
    )
    add.add_argument(
        "--container",
        nargs="?",
        const="",
        metavar="IMAGE",
        help="run the image's instances as real containers of IMAGE (default: URI itself) "
        "with Podman or Docker",
    )
    add.add_argument(
        "--runtime",
        choices=("podman", "docker"),
        help="with --container: the runtime (default: podman, else docker, as installed)",
    )
    add.set_defaults(handler=_add)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="the service's data directory (env HYBRIDJOBS_DATA_DIR)"
    )
    parser.add_argument(
        "--environments-dir",
        type=Path,
        help="where environments are built (default DATA_DIR/environments; env "
        "HYBRIDJOBS_ENVIRONMENTS_DIR)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.environments_dir is not None:
        overrides["environments_dir"] = args.environments_dir
    return Settings(**overrides)


def rows(catalog: ImageCatalog) -> list[dict[str, Any]]:
    """One row per known image: shipped repositories first, then the operator's."""
    found: list[dict[str, Any]] = []
    for repository, name in BUILTIN_ENVIRONMENTS.items():
        uri = f"{BRAKET_REGISTRY}.dkr.ecr.<region>.amazonaws.com/{repository}"
        mapped = catalog.image_interpreters.get(uri) or catalog.mappings().get(uri)
        environment = catalog.builtin(name) if not mapped else catalog.resolve(uri)
        assert environment is not None
        found.append(_row(uri, environment))
    for uri in sorted({*catalog.image_interpreters, *catalog.mappings()}):
        environment = catalog.resolve(uri)
        if environment is not None:
            found.append(_row(uri, environment))
    return found


def _row(uri: str, environment: Environment) -> dict[str, Any]:
    built = is_built(environment)
    row: dict[str, Any] = {
        "image": uri,
        "environment": environment.name,
        "kind": environment.kind,
        "python": environment.python,
        "state": _state(environment, built),
        "size_bytes": None,
        "build_seconds": None,
    }
    if environment.kind == "spec" and built and environment.root is not None:
        row["size_bytes"] = disk_bytes(environment.root)
        row["build_seconds"] = build_info(environment).get("seconds")
    if environment.kind == "container":
        row["container"] = environment.image
        runtime = find_runtime(environment.runtime)
        row["runtime"] = runtime
        if runtime is None:
            row["state"] = f"container: {environment.runtime or 'podman or docker'} not installed"
        elif image_present(runtime, environment.image):
            row["state"] = f"container ({Path(runtime).name}): {environment.image}"
            row["size_bytes"] = image_size(runtime, environment.image)
        else:
            row["state"] = f"container ({Path(runtime).name}): {environment.image} not pulled"
    return row


def _state(environment: Environment, built: bool) -> str:
    if environment.kind == "service":
        return "service interpreter"
    if environment.kind == "python":
        return "ready" if Path(environment.python).exists() else "missing interpreter"
    return "built" if built else "not built (builds on first use)"


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 2**20:.0f} MiB" if value < 2**30 else f"{value / 2**30:.2f} GiB"


def _list(args: argparse.Namespace) -> int:
    found = rows(image_catalog(_settings(args)))
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(
        table(
            ["IMAGE", "ENVIRONMENT", "STATE", "SIZE", "BUILD"],
            [
                [
                    row["image"],
                    row["environment"],
                    row["state"],
                    _size(row["size_bytes"]),
                    duration(row["build_seconds"]) if row["build_seconds"] else "-",
                ]
                for row in found
            ],
        )
    )
    return 0


def _targets(catalog: ImageCatalog, image: str | None) -> list[Environment]:
    if image is None:
        names = [name for name in BUILTIN_ENVIRONMENTS.values() if name != BASE]
        targets = [catalog.builtin(name) for name in names]
        targets += [e for uri in catalog.mappings() if (e := catalog.resolve(uri)) is not None]
        return [e for e in targets if e.kind in ("spec", "container")]
    if image in BUILTIN_ENVIRONMENTS.values():
        return [catalog.builtin(image)]
    environment = catalog.resolve(image)
    if environment is None:
        raise UsageError(catalog.problem(image) or image)
    return [environment]


def _build(args: argparse.Namespace) -> int:
    settings = _settings(args)
    catalog = image_catalog(settings)
    for environment in _targets(catalog, args.image):
        if environment.kind == "container":
            try:
                runtime = ensure_image(environment, args.image or environment.name, print)
            except EnvironmentBuildError as error:
                print(f"error: {environment.name}: {error}", file=sys.stderr)
                return 1
            size = _size(image_size(runtime, environment.image))
            print(f"{environment.name}: container image {environment.image} is here ({size})")
            continue
        if environment.kind != "spec":
            print(f"{environment.name}: runs on {environment.python}; nothing to build")
            continue
        if is_built(environment):
            print(f"{environment.name}: built already ({environment.root})")
            continue
        print(f"{environment.name}: building with uv ...", flush=True)
        started = time.monotonic()
        try:
            ensure_built(environment, settings.python_executable, settings.uv_cache_dir)
        except EnvironmentBuildError as error:
            print(f"error: {environment.name}: {error}", file=sys.stderr)
            return 1
        assert environment.root is not None
        print(
            f"{environment.name}: built in {time.monotonic() - started:.1f} s, "
            f"{_size(disk_bytes(environment.root))} ({environment.root})"
        )
    return 0


def _add(args: argparse.Namespace) -> int:
    catalog = image_catalog(_settings(args))
    if args.container is not None:
        return _add_container(catalog, args)
    if args.runtime is not None:
        raise UsageError("--runtime goes with --container")
    requirements = None
    if args.requirements is not None:
        try:
            requirements = args.requirements.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--requirements: {error}") from None
    python = None
    if args.python is not None:
        python = str(Path(args.python).absolute())
        if not Path(python).exists():
            raise UsageError(f"--python: {python} does not exist")
    try:
        catalog.add(args.uri, python=python, requirements=requirements)
    except ValueError as error:
        raise UsageError(str(error)) from None
    environment = catalog.resolve(args.uri)
    assert environment is not None
    where = environment.python if python else f"{environment.root} (built on first use)"
    print(f"{args.uri} -> {environment.name}: {where}")
    return 0


def _add_container(catalog: ImageCatalog, args: argparse.Namespace) -> int:
    """``images add URI --container [IMAGE]``: the runtime must be installed here."""
    if args.requirements is not None:
        raise UsageError("--requirements cannot be combined with --container")
    container = args.container or args.uri
    if find_runtime(args.runtime or "") is None:
        wanted = args.runtime or "podman or docker"
        raise UsageError(
            f"--container: {wanted} is not installed here; install it (Debian: apt-get "
            "install podman) or map the image with --requirements FILE or --python PATH"
        )
    try:
        catalog.add(args.uri, python=args.python, container=container, runtime=args.runtime)
    except ValueError as error:
        raise UsageError(str(error)) from None
    environment = catalog.resolve(args.uri)
    assert environment is not None
    print(
        f"{args.uri} -> container {environment.image} "
        f"({environment.runtime or 'podman or docker'}; {environment.python} inside; "
        "pulled on first use)"
    )
    return 0
