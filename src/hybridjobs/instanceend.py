"""How an instance ends, as a container would: what it waits for and what it takes along.

Used by :mod:`hybridjobs.bootstrap` (standard library only, inside the instance): the
non-daemon threads the interpreter will wait for, and :func:`end_process_group`, which
ends every other process of the instance's process group when the instance's own process
ends (SIGTERM, a short grace, SIGKILL), through a pidfd where the kernel has them so a
reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

END_GRACE_SECONDS = 1.0
"""How long the processes an instance leaves in its group get between SIGTERM and SIGKILL."""


def non_daemon_threads() -> list[str]:
    """Names of the live non-daemon threads but the main one (what Python joins at exit)."""
    main_thread = threading.main_thread()
    return [
        t.name
        for t in threading.enumerate()
        if t is not main_thread and not t.daemon and t.is_alive()
    ]


def group_members(pgid: int | None = None) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` (default: this process's),
    this process excluded, as ``/proc`` lists them."""
    group = os.getpgrp() if pgid is None else pgid
    me = os.getpid()
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        stat = _proc_stat(int(entry))
        if stat is not None and stat[0] not in ("Z", "X") and int(stat[2]) == group:
            members.append(int(entry))
    return members


def _proc_stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` from field 3 (state, ppid, pgrp, ...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


def _signal_member(pid: int, group: int | None, signum: int) -> None:
    """Send ``signum`` to ``pid`` if it is still a member of ``group`` (any process of
    the namespace when ``group`` is ``None``), through a pidfd where the kernel has them,
    so a pid reused meanwhile is never signalled."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, ProcessLookupError):
            return
        pidfd = -1
    try:
        stat = _proc_stat(pid)
        if stat is None or (group is not None and int(stat[2]) != group):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, signum)
            else:
                os.kill(pid, signum)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def sandboxed_instance() -> bool:
    """Whether this process is a sandbox's instance: PID 2 of a PID namespace of its own,
    child of the namespace's init, in a process group led from outside the namespace (so
    ``getpgrp`` reads 0): the layout of both sandboxes (bubblewrap and
    :mod:`hybridjobs.sandbox.inplace`)."""
    return os.getpid() == 2 and os.getppid() == 1 and os.getpgrp() == 0


def namespace_members() -> list[int]:
    """Live (non-zombie) processes of this PID namespace but its init and this process."""
    members: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, os.getpid()):
                stat = _proc_stat(int(entry))
                if stat is not None and stat[0] not in ("Z", "X"):
                    members.append(int(entry))
    return members


def end_process_group(grace: float = END_GRACE_SECONDS) -> list[int]:
    """End every other process of this process's group: SIGTERM each, wait up to ``grace``
    seconds for them to end, SIGKILL what is left; return the pids it signalled.

    Does nothing unless this process leads its group (an instance: the cold bootstrap and a
    forked instance both lead a session of their own; an MPI rank or a bootstrap started by
    hand in someone else's group leaves that group alone) or is a sandbox's instance
    (:func:`sandboxed_instance`), whose "group" is every other process of its namespace but
    the init. This process is never signalled. Says in the log (stderr) which processes it
    stops.
    """
    me = os.getpid()
    group: int | None = me
    if os.getpgrp() != me:
        if not sandboxed_instance():
            return []
        group = None

    def members_now() -> list[int]:
        return group_members(me) if group is not None else namespace_members()

    signalled: list[int] = []
    deadline = time.monotonic() + grace
    while True:
        members = members_now()
        fresh = [pid for pid in members if pid not in signalled]
        if fresh:
            if not signalled:
                names = ", ".join(f"{pid} ({_process_name(pid)})" for pid in fresh)
                with contextlib.suppress(Exception):
                    print(
                        f"hybridjobs: the instance has ended; stopping what it left in its "
                        f"process group: {names}",
                        file=sys.stderr,
                        flush=True,
                    )
            for pid in fresh:
                _signal_member(pid, group, signal.SIGTERM)
            signalled.extend(fresh)
        if not members or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    deadline = time.monotonic() + max(grace, 1.0)
    while members and time.monotonic() < deadline:
        for pid in members:
            if pid not in signalled:
                signalled.append(pid)
            _signal_member(pid, group, signal.SIGKILL)
        time.sleep(0.01)
        members = members_now()
    return signalled


def last_error_line(log_file: Path) -> str:
    """The last line of an instance's log that can stand for its failure (traceback frame
    lines and the bootstrap's closing line skipped)."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "the instance exited without output"
    for line in reversed(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("Code Run Finished", "File ")):
            return stripped
    return "the instance exited without output"


def end_the_user_line() -> None:
    """Flush the user's output and, when its last line has no newline, end it, so the
    bootstrap's next line stays a line of its own (stdout is the instance's log file)."""
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError):  # a terminal or a pipe: nothing to look at
        if not stat.S_ISREG(os.fstat(1).st_mode) or os.fstat(1).st_size == 0:
            return
        with open("/proc/self/fd/1", "rb") as written:  # fd 1 itself is write-only
            written.seek(-1, os.SEEK_END)
            if written.read(1) != b"\n":
                os.write(1, b"\n")
