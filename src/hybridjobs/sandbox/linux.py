"""The Linux calls a sandbox is made of, through the C library (``ctypes``).

Python 3.11's :mod:`os` has none of them: namespaces (``unshare``), mounts (``mount``,
``umount2``, ``pivot_root``), the host name of a UTS namespace, capabilities and
``no_new_privs``. Each wrapper raises :class:`OSError` with the call's ``errno`` and the
arguments it was given, so a sandbox that cannot be made says exactly which step failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

MOUNT_OPTION_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
"""The per-mount options of ``/proc/self/mountinfo`` as ``mount(2)`` flags (a remount in a
user namespace must repeat the ones the kernel locked)."""

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_PDEATHSIG = 1
_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_PIVOT_ROOT_BY_MACHINE = {"x86_64": 155, "aarch64": 41, "arm64": 41}
_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, call: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{call}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``CLONE_NEW*`` flags)."""
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``."""
    encoded = [None if s is None else os.fsencode(s) for s in (source, target, fstype)]
    options = os.fsencode(data) if data else None
    result = _libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), options)
    _check(result, f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}, {data!r})")


def umount(target: str, flags: int = 0) -> None:
    """``umount2(2)``."""
    _check(_libc.umount2(os.fsencode(target), ctypes.c_int(flags)), f"umount2({target!r})")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)`` (the C library has no wrapper: a raw system call)."""
    number = _SYS_PIVOT_ROOT_BY_MACHINE.get(os.uname().machine, _SYS_PIVOT_ROOT)
    result = _libc.syscall(ctypes.c_long(number), os.fsencode(new_root), os.fsencode(put_old))
    _check(result, f"pivot_root({new_root!r}, {put_old!r})")


def set_hostname(name: str) -> None:
    """The host name of the calling process's UTS namespace."""
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), f"sethostname({name!r})")


def die_with_parent(signum: int) -> None:
    """Have the kernel send ``signum`` to the calling process when its parent ends."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0), "PR_SET_PDEATHSIG")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def drop_privileges() -> None:
    """Give up every capability for good (the bounding and ambient sets emptied first,
    then the effective, permitted and inheritable ones), and set ``no_new_privs`` so that
    no ``execve`` (setuid programs included) can grant any back."""
    for capability in range(_last_capability() + 1):
        result = _libc.prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(capability), 0, 0, 0)
        if result != 0 and ctypes.get_errno() != 22:  # EINVAL: not a capability here
            _check(result, f"PR_CAPBSET_DROP({capability})")
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # absent before 4.3
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def capabilities() -> int:
    """The calling process's effective capabilities (``CapEff`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0
