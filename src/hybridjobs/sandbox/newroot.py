"""The root file system of an instance's sandbox, from a ``bwrap`` command line.

:meth:`BoxPlan.from_bwrap_argv` reads the command line :mod:`hybridjobs.sandbox.bwrap`
makes for a cold instance (refusing any option it does not carry out, so a layout that
grows one never runs in a weaker sandbox); :func:`build_root` carries it out in the
calling process, which must already be in a mount namespace of its own, with the
privilege to mount there, and (for ``--proc``) in the sandbox's PID namespace: the init
of :mod:`hybridjobs.sandbox.inplace` (warm starts). It pivots into a tmpfs that holds the
old root at :data:`OLD_ROOT`, carries out the plan's steps under :data:`NEW_ROOT` as
bubblewrap would (read-only binds read-only all the way down, a minimal ``/dev``, a
``/proc`` whose host-wide parts are read-only), then pivots into that and drops the old
root.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hybridjobs.sandbox import linux

BASE = "/tmp"
"""Where the sandbox's first root (a tmpfs) is mounted, in the new mount namespace only."""
NEW_ROOT = "/newroot"
OLD_ROOT = "/oldroot"
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "core": "/proc/kcore",
    "ptmx": "pts/ptmx",
}
PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")
"""Parts of ``/proc`` that act on the whole host: read-only inside (as bubblewrap does)."""
_ARITY = {
    "--ro-bind": 2,
    "--bind": 2,
    "--dev-bind": 2,
    "--symlink": 2,
    "--tmpfs": 1,
    "--dev": 1,
    "--proc": 1,
    "--hostname": 1,
    "--chdir": 1,
    "--cap-drop": 1,
}
_FLAGS = ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")


class PlanError(ValueError):
    """A ``bwrap`` command line this module cannot carry out."""


@dataclass(frozen=True)
class Step:
    """One filesystem step of the sandbox: ``op`` (a ``bwrap`` option without ``--``)."""

    op: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class BoxPlan:
    """The sandbox a ``bwrap`` command line describes (its filesystem steps in order)."""

    steps: tuple[Step, ...]
    argv: tuple[str, ...] = ()
    """The ``bwrap`` command line this plan was read from."""
    hostname: str | None = None
    chdir: str | None = None
    die_with_parent: bool = False
    unshare: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_bwrap_argv(cls, argv: Sequence[str]) -> BoxPlan:
        """The plan of ``bwrap [options] -- [command]`` (the command is ignored);
        :class:`PlanError` for an option this module does not carry out, so a layout that
        grows one never runs in a weaker sandbox."""
        steps: list[Step] = []
        hostname = chdir = None
        die_with_parent = False
        unshare: set[str] = set()
        position = 1
        while position < len(argv) and argv[position] != "--":
            option = argv[position]
            if option in _FLAGS:
                unshare.add(option.removeprefix("--unshare-").removesuffix("-try"))
                position += 1
                continue
            if option == "--die-with-parent":
                die_with_parent = True
                position += 1
                continue
            arity = _ARITY.get(option)
            if arity is None:
                raise PlanError(f"unsupported bwrap option {option!r}")
            args = tuple(argv[position + 1 : position + 1 + arity])
            if len(args) != arity:
                raise PlanError(f"{option} needs {arity} argument(s)")
            position += 1 + arity
            if option == "--hostname":
                hostname = args[0]
            elif option == "--chdir":
                chdir = args[0]
            elif option == "--cap-drop":
                if args[0] != "ALL":
                    raise PlanError(f"--cap-drop {args[0]}: only ALL is carried out")
            else:
                steps.append(Step(option.removeprefix("--"), args))
        required = {"pid", "ipc", "uts"}
        if not required <= unshare:
            raise PlanError(f"the plan must unshare {sorted(required)}")
        return cls(tuple(steps), tuple(argv), hostname, chdir, die_with_parent, frozenset(unshare))


def build_root(plan: BoxPlan) -> None:
    """Pivot into a tmpfs holding the old root at :data:`OLD_ROOT`, carry out the plan's
    steps under :data:`NEW_ROOT`, then pivot into that and drop the old root."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount("tmpfs", BASE, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    os.mkdir(BASE + NEW_ROOT)
    os.mkdir(BASE + OLD_ROOT)
    linux.pivot_root(BASE, BASE + OLD_ROOT)
    os.chdir("/")
    linux.mount("tmpfs", NEW_ROOT, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    for step in plan.steps:
        _carry_out(step)
    linux.umount(OLD_ROOT, linux.MNT_DETACH)
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
    try:
        os.chdir(NEW_ROOT)
        linux.pivot_root(".", ".")
        os.fchdir(old)
        linux.umount(".", linux.MNT_DETACH)
    finally:
        os.close(old)
    os.chdir("/")


def _carry_out(step: Step) -> None:
    """One ``bwrap`` filesystem option, under :data:`NEW_ROOT`."""
    if step.op in ("bind", "ro-bind", "dev-bind"):
        source, target = OLD_ROOT + step.args[0], NEW_ROOT + step.args[1]
        _bind(source, target, read_only=step.op == "ro-bind")
    elif step.op == "tmpfs":
        target = NEW_ROOT + step.args[0]
        os.makedirs(target, exist_ok=True)
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    elif step.op == "symlink":
        link = NEW_ROOT + step.args[1]
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(step.args[0], link)
    elif step.op == "dev":
        _make_dev(NEW_ROOT + step.args[0])
    elif step.op == "proc":
        _make_proc(NEW_ROOT + step.args[0])
    else:  # from_bwrap_argv lets no other op through
        raise PlanError(f"unknown step {step.op!r}")


def _bind(source: str, target: str, *, read_only: bool) -> None:
    """Bind ``source`` (a directory or a file) at ``target``; read-only all the way down
    when asked (every mount under it too; one that cannot be made read-only is removed)."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.lexists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o444))
    linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
    if read_only:
        _remount_read_only(target)


def _remount_read_only(target: str) -> None:
    for mount_point, options in _mounts_under(target):
        flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
        for option in options:
            flags |= linux.MOUNT_OPTION_FLAGS.get(option, 0)
        try:
            linux.mount(None, mount_point, None, flags)
        except OSError:
            if mount_point == target:
                raise
            linux.umount(mount_point, linux.MNT_DETACH)  # hidden rather than writable


def _mounts_under(target: str) -> list[tuple[str, list[str]]]:
    """The mount points at or under ``target`` (outermost first) with their options."""
    found: list[tuple[str, list[str]]] = []
    for line in Path(f"{OLD_ROOT}/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point = _unescape(fields[4])
        if mount_point == target or mount_point.startswith(target.rstrip("/") + "/"):
            found.append((mount_point, fields[5].split(",")))
    found.sort(key=lambda entry: entry[0].count("/"))
    unique: dict[str, list[str]] = {}
    for mount_point, options in found:
        unique[mount_point] = options  # the last one mounted there is the one seen
    return list(unique.items())


def _unescape(text: str) -> str:
    """A ``mountinfo`` path (spaces and the like written as ``\\ooo``)."""
    if "\\" not in text:
        return text
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def _make_dev(target: str) -> None:
    """A minimal ``/dev`` as ``bwrap --dev`` makes it: the harmless nodes of the host's,
    ``shm``, a private ``pts`` and the usual links."""
    os.makedirs(target, exist_ok=True)
    linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID, "mode=0755")
    for node in DEV_NODES:
        if os.path.exists(f"{OLD_ROOT}/dev/{node}"):
            _bind(f"{OLD_ROOT}/dev/{node}", f"{target}/{node}", read_only=False)
    os.mkdir(f"{target}/shm")
    os.chmod(f"{target}/shm", 0o1777)
    os.mkdir(f"{target}/pts")
    with contextlib.suppress(OSError):  # a host without devpts instances: no terminals
        linux.mount(
            "devpts",
            f"{target}/pts",
            "devpts",
            linux.MS_NOSUID | linux.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=620",
        )
    for name, link in DEV_LINKS.items():
        os.symlink(link, f"{target}/{name}")


def _make_proc(target: str) -> None:
    """The ``/proc`` of the new PID namespace, its host-wide parts read-only."""
    os.makedirs(target, exist_ok=True)
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("proc", target, "proc", flags)
    for name in PROC_COVERED:
        path = f"{target}/{name}"
        if os.path.exists(path):
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            _remount_read_only(path)
