"""The bubblewrap sandbox: each instance in its own mount, PID, IPC and UTS namespaces.

What a command run by :meth:`BwrapSandbox.wrap` sees:

* a fresh root (tmpfs) holding only the system directories (``/usr``, ``/etc``, ``/bin``,
  ``/lib*``, ``/sbin``, ``/sys``) and the interpreters' directories (:func:`runtime_roots`),
  all read-only;
* its instance directory at ``/opt/ml`` (read-write) and ``/opt/braket`` as a symlink to
  it, plus the box's other binds;
* a private ``/tmp``, ``/dev`` (null, zero, random, shm, ..., and the GPU device nodes of
  a GPU instance), a ``/proc`` of its own PID
  namespace (only the sandbox's processes), an empty ``$HOME``;
* the host name ``algo-N``; no capabilities; no new privileges (setuid does nothing).

Hidden paths are covered when they lie under a shown directory: directories (the data
directory: database, objects, other jobs) with an empty tmpfs, files (the credentials
file, the TLS key) with an empty one, so a secret kept under ``/etc`` stays unread. The network namespace stays the host's:
instances reach the service's API and each other (MPI, data-parallel rendezvous) over
loopback, as the Braket container reaches AWS.

Stopping: the command's process is the outer ``bwrap``; its only child is the namespace's
PID 1, whose death makes the kernel kill every process of the namespace (``setsid``
children and fork bombs included).
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from hybridjobs.sandbox.box import CONTAINER_ALIAS, CONTAINER_ROOT, InstanceBox

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


def runtime_roots(pythons: Iterable[str], extra: Iterable[Path] = ()) -> list[Path]:
    """The directories an instance needs read-only besides the system ones: the service's
    interpreter (prefixes and absolute ``sys.path`` entries, not its working directory),
    each interpreter in ``pythons`` (its environment and its real executable's prefix) and
    ``extra``; without those under a system directory or under another root."""
    here = os.getcwd()
    candidates: list[Path] = [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    candidates += [Path(p) for p in sys.path if os.path.isabs(p) and p != here]
    for python in pythons:
        candidates.append(Path(python).parent.parent)
        candidates.append(Path(python).resolve().parent.parent)
    candidates += list(extra)
    found: list[Path] = []
    for path in sorted({_real(p) for p in candidates if p.exists()}, key=lambda p: len(p.parts)):
        if path == Path("/") or any(_under(path, Path(s)) for s in SYSTEM_DIRS):
            continue
        if not any(_under(path, root) for root in found):
            found.append(path)
    return found


_EMPTY: list[Path] = []


def _empty_file() -> Path:
    """An empty, read-only file of this process (removed at exit) to bind over a secret;
    ``/dev/null`` cannot stand in, as device nodes in a bound directory do not open."""
    if not _EMPTY:
        handle, name = tempfile.mkstemp(prefix="hybridjobs-empty-")
        os.close(handle)
        os.chmod(name, 0o444)
        atexit.register(lambda: Path(name).unlink(missing_ok=True))
        _EMPTY.append(Path(name))
    return _EMPTY[0]


def _real(path: Path) -> Path:
    real = path.resolve()
    return real if real.is_dir() else real.parent


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class BwrapSandbox:
    """A :class:`~hybridjobs.sandbox.box.Sandbox` made with bubblewrap (see the module
    docstring). ``roots`` are shown read-only; ``hidden`` are covered when inside them."""

    kind = "bwrap"
    isolates = True

    def __init__(self, bwrap: str, roots: Sequence[Path], hidden: Sequence[Path]) -> None:
        self.bwrap = bwrap
        self.roots = list(roots)
        self.hidden = [h.resolve() for h in hidden]
        self._base = self._base_args()

    def _base_args(self) -> list[str]:
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        home = os.environ.get("HOME", "")
        if os.path.isabs(home) and home != "/" and not self._shown(Path(home)):
            args += ["--tmpfs", home]  # first: a root may lie inside it (~/.pyenv)
        for name in SYSTEM_DIRS:
            path = Path(name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                args += ["--ro-bind", name, name]
        for root in self.roots:
            args += ["--ro-bind", str(root), str(root)]
        shown = [Path(name) for name in SYSTEM_DIRS] + self.roots
        for hidden in self.hidden:
            if not hidden.exists() or not any(_under(hidden, root) for root in shown):
                continue
            if hidden.is_dir():
                args += ["--tmpfs", str(hidden)]
            else:  # a secret file (credentials, TLS key) reads as empty
                args += ["--ro-bind", str(_empty_file()), str(hidden)]
        return args

    def _shown(self, path: Path) -> bool:
        """Whether the sandbox shows ``path`` already (not when it lies in a hidden one)."""
        if any(_under(path, hidden) for hidden in self.hidden):
            return False
        shown = [Path(s) for s in SYSTEM_DIRS] + self.roots
        return any(_under(path, root) for root in shown)

    def wrap(
        self, argv: Sequence[str], box: InstanceBox, *, die_with_parent: bool = False
    ) -> list[str]:
        args = list(self._base)
        args += ["--hostname", box.host]
        for path in box.runtime:
            if path.is_dir() and not self._shown(path):
                args += ["--ro-bind", str(path), str(path)]
        for device in box.devices:
            if device.exists():
                args += ["--dev-bind", str(device), str(device)]
        args += ["--bind", str(box.instance_dir), CONTAINER_ROOT]
        args += ["--symlink", CONTAINER_ROOT, CONTAINER_ALIAS]
        for bind in box.binds:
            args += ["--bind" if bind.writable else "--ro-bind", str(bind.host), bind.container]
        if die_with_parent:
            args.append("--die-with-parent")
        args += ["--chdir", CONTAINER_ROOT, "--", *argv]
        return args
