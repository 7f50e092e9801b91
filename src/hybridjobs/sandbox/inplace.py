"""Entering an instance's sandbox from an already running process: warm sandboxed starts.

A cold instance starts inside bubblewrap (:mod:`hybridjobs.sandbox.bwrap`). A warm one is
a child forked from a zygote that imported the Braket SDK long before the instance
existed, so it cannot be started by ``bwrap``: it makes the very same sandbox itself,
from the same ``bwrap`` command line (its root file system is
:mod:`hybridjobs.sandbox.newroot`), so both paths
show an instance exactly the same world (one layout, one place to review it).

The processes are made **ahead** of the instance, by :func:`prepare`, in a zygote's
embryo (single-threaded, waiting for its order), so that no fork of the big preloaded
interpreter lies between an order and the job's first line. :func:`prepare` turns the
embryo into three:

* the **keeper**, the embryo itself, with the pid the service knows: it makes the new
  namespaces (mount, PID, IPC, UTS, and a user namespace when not root, as bubblewrap
  does) and, at its order (:meth:`Prepared.hand_over`), moves all three processes into
  the instance's cgroup, hands the plan and the instance's order over, ignores the stop
  signals and waits; when the instance ends it ends the same way (the same exit code, or
  killed by the same signal), so the zygote reports the instance's own exit;
* the namespace's **init** (PID 1): given the plan, it builds the root (a tmpfs with the
  system and interpreter directories read-only, ``/opt/ml``, a private ``/tmp``, ``/dev``
  and its own ``/proc``), pivots into it, sets the host name, gives up every capability
  for good, hands the order to the instance and reaps orphans until the instance ends;
  its end kills every process left in the namespace (``setsid`` children included), and
  it dies with the keeper;
* the **instance** (PID 2), forked by the init before the plan arrived: the pivots move
  its root with the init's; given the order, it makes its own cgroup namespace, gives up
  every capability and returns from :func:`prepare` with the order (a :class:`Handoff`).
  It is in the keeper's process group, so a signal to that group reaches it while the
  keeper and the init (which, as a namespace's init, takes no signal it has no handler
  for) stay to report its end.

Any failure before the instance runs is written to the instance's log and ends all three
with exit code 1. An embryo whose order never comes closes its channel: the init and the
instance exit unstarted. :func:`enter` does it all at once (the start-up probe, tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from hybridjobs.sandbox import linux
from hybridjobs.sandbox.newroot import BoxPlan, build_root

STOP_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


@dataclass(frozen=True)
class Handoff:
    """In the instance's process: its order arrived (see :func:`prepare`)."""

    order: dict[str, Any]
    log_fd: int


@dataclass
class Prepared:
    """In the keeper: the init and the instance wait for the plan (see :func:`prepare`)."""

    init: int
    channel: socket.socket

    def instance_pid(self) -> int | None:
        """The instance's pid as this process sees it (the init's one child)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            children = Path(f"/proc/{self.init}/task/{self.init}/children").read_text()
            return int(children.split()[0])
        return None

    def hand_over(
        self,
        plan: BoxPlan,
        order: dict[str, Any],
        cgroup_procs: Sequence[Path],
        log_fd: int,
    ) -> NoReturn:
        """Move the three processes into the instance's cgroup, give the init the plan
        and the instance its ``order`` (with ``log_fd``, the instance's log), then keep:
        wait, and end as the instance ended."""
        try:
            for procs in cgroup_procs:
                for pid in (os.getpid(), self.init, self.instance_pid()):
                    if pid is not None:
                        procs.write_text(str(pid))
            _send(self.channel, {"plan": list(plan.argv), "order": order}, log_fd)
        except BaseException as exc:
            _fail(log_fd, f"cannot make the instance's sandbox: {exc}")
        _keep(self.init, self.channel)

    def abandon(self) -> None:
        """No sandbox after all: the init and the instance exit unstarted."""
        self.channel.close()


def prepare(user_namespace: bool | None = None) -> Prepared | Handoff:
    """Make the namespaces, the init and the instance's process ahead of the order (see
    the module docstring): returns :class:`Prepared` in the calling process (at once) and
    :class:`Handoff` in the instance (once its order arrived); the init never returns.
    ``user_namespace``: whether to make a user namespace too (``None``: when not root, as
    bubblewrap does). The caller must be single-threaded. ``OSError`` when the namespaces
    cannot be made here."""
    user = os.geteuid() != 0 if user_namespace is None else user_namespace
    uid, gid = os.geteuid(), os.getegid()
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
    linux.unshare(flags | (linux.CLONE_NEWUSER if user else 0))
    if user:
        _map_user(uid, gid)
    ours, theirs = socket.socketpair()
    init = os.fork()
    if init == 0:
        ours.close()
        return _init(theirs)
    theirs.close()
    return Prepared(init, ours)


def enter(
    plan: BoxPlan,
    cgroup_procs: Sequence[Path],
    error_fd: int,
    user_namespace: bool | None = None,
) -> None:
    """:func:`prepare` and hand over at once: returns in the instance's process, inside
    the sandbox of ``plan``; the calling process (the keeper) and the init never return.
    ``error_fd`` stands for the instance's log."""
    try:
        stage = prepare(user_namespace)
    except BaseException as exc:
        _fail(error_fd, f"cannot make the instance's sandbox: {exc}")
    if isinstance(stage, Handoff):
        return
    stage.hand_over(plan, {}, cgroup_procs, error_fd)


def _map_user(uid: int, gid: int) -> None:
    """Map the caller's ids to themselves in its new user namespace."""
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _fail(log_fd: int, message: str, channel: socket.socket | None = None) -> NoReturn:
    """Say ``message`` in the instance log and exit 1 (telling the keeper, from the init)."""
    with contextlib.suppress(OSError):
        os.write(log_fd, f"hybridjobs: {message}\n".encode())
    if channel is not None:
        with contextlib.suppress(OSError):
            channel.sendall(str(1 << 8).encode())  # the wait status of exit(1)
    os._exit(1)


def _send(channel: socket.socket, message: dict[str, Any], fd: int) -> None:
    """One message with one file descriptor: its length (and the descriptor), then it."""
    data = json.dumps(message).encode()
    socket.send_fds(channel, [len(data).to_bytes(4, "big")], [fd])
    channel.sendall(data)


def _receive(channel: socket.socket) -> tuple[dict[str, Any], int] | None:
    """A message of :func:`_send` and its descriptor; ``None`` at end of file."""
    header, fds, _flags, _address = socket.recv_fds(channel, 4, 1)
    if len(header) < 4 or not fds:
        return None
    size = int.from_bytes(header, "big")
    data = b""
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data), fds[0]


# -- the keeper (the pid the service knows) ---------------------------------------------


def _keep(init: int, channel: socket.socket) -> NoReturn:
    """Wait for the init, then end as the instance ended (its wait status, sent by the
    init through ``channel``; killed when the init died without sending one)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    keep = channel.fileno()
    os.closerange(0, keep)
    os.closerange(keep + 1, _max_fd())
    report = b""
    with contextlib.suppress(OSError):
        while chunk := channel.recv(64):
            report += chunk
    with contextlib.suppress(ChildProcessError):
        os.waitpid(init, 0)
    try:
        status = int(report)
    except ValueError:
        status = int(signal.SIGKILL)  # the init was killed: so was the instance
    if os.WIFSIGNALED(status):
        killed_by = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
        os._exit(128 + killed_by)  # a signal that does not end a process
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


# -- the namespace's init (PID 1) --------------------------------------------------------


def _init(keeper: socket.socket) -> Handoff:
    """Fork the instance's process (it returns from here with its order), then wait for
    the plan, build the sandbox, hand the order on, and reap until the instance ends."""
    linux.die_with_parent(signal.SIGKILL)  # a keeper gone: nobody reports, end it all
    ours, theirs = socket.socketpair()
    instance = os.fork()
    if instance == 0:
        keeper.close()
        ours.close()
        return _instance(theirs)
    theirs.close()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)  # an init takes none it has no handler for
    try:
        received = _receive(keeper)
    except OSError:
        received = None
    if received is None:
        os._exit(0)  # no order came: the instance ends unstarted with this namespace
    message, log_fd = received
    try:
        plan = BoxPlan.from_bwrap_argv(message["plan"])
        build_root(plan)
        if plan.hostname:
            linux.set_hostname(plan.hostname)
        linux.drop_privileges()
        _send(ours, message, log_fd)
    except BaseException as exc:
        _fail(log_fd, f"cannot make the instance's sandbox: {exc}", keeper)
    ours.close()
    os.close(log_fd)
    keep = keeper.fileno()
    os.closerange(0, keep)
    os.closerange(keep + 1, _max_fd())
    status = int(signal.SIGKILL)
    while True:
        try:
            pid, reaped = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == instance:
            status = reaped
            break
    with contextlib.suppress(OSError):
        keeper.sendall(str(status).encode())
    os._exit(0)


def _instance(init: socket.socket) -> Handoff:
    """Wait for the order the init hands on once the sandbox is built; then give up
    every capability and return with it (end of file instead: exit unstarted)."""
    try:
        received = _receive(init)
    except OSError:
        received = None
    if received is None:
        os._exit(0)
    message, log_fd = received
    try:
        plan = BoxPlan.from_bwrap_argv(message["plan"])
        if "cgroup" in plan.unshare:
            with contextlib.suppress(OSError):  # in its cgroup by now: that is its root
                linux.unshare(linux.CLONE_NEWCGROUP)
        linux.drop_privileges()
        os.chdir(plan.chdir or "/")
    except BaseException as exc:
        _fail(log_fd, f"cannot enter the instance's sandbox: {exc}")
    init.close()
    return Handoff(dict(message.get("order") or {}), log_fd)


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY and soft > 3 else 1 << 20


# -- the start-up probe ------------------------------------------------------------------


def _probe_main(argv: Sequence[str]) -> int:
    """``python -m hybridjobs.sandbox.inplace BWRAP_ARGV_JSON``: enter the plan, then (as
    the instance) check the sandbox from inside; exit code 0 when it holds."""
    import json

    plan = BoxPlan.from_bwrap_argv(json.loads(argv[0]))
    enter(plan, [], 2)
    checks = {
        "pid 2 of its own namespace": os.getpid() == 2,
        "no capabilities": linux.capabilities() == 0,
        "a writable /opt/ml": os.access("/opt/ml", os.W_OK),
        "its host name": plan.hostname is None or os.uname().nodename == plan.hostname,
    }
    failed = [name for name, held in checks.items() if not held]
    if failed:
        print(f"the sandbox lacks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
