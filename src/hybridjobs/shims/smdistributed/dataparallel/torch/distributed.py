"""``smdistributed.dataparallel.torch.distributed`` on top of ``torch.distributed``.

The rank, world size and local rank are the ones the service gives every instance of a
data-parallel job (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``: one process per instance). As in SageMaker's library they
can be read before :func:`init_process_group`. ``init_process_group`` accepts the
``smddp`` backend name (and none) and picks ``nccl`` when the instance sees a GPU, ``gloo``
otherwise. Every other name (``all_reduce``, ``broadcast``, ``ReduceOp``, …) is
``torch.distributed``'s own.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as _dist

SMDDP_BACKEND = "smddp"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _backend(requested: str | None) -> str:
    if requested and requested != SMDDP_BACKEND:
        return requested
    return "nccl" if torch.cuda.is_available() else "gloo"


def init_process_group(backend: str | None = SMDDP_BACKEND, **kwargs: Any) -> None:
    """Join the job's process group (idempotent): ``smddp`` means nccl on GPU, else gloo."""
    if _dist.is_initialized():
        return
    chosen = _backend(backend)
    if chosen == "gloo" and os.environ.get("MASTER_ADDR", "127.0.0.1") in _LOOPBACK:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    kwargs.setdefault("init_method", "env://")
    kwargs.setdefault("rank", get_rank())
    kwargs.setdefault("world_size", get_world_size())
    _dist.init_process_group(backend=chosen, **kwargs)


def is_available() -> bool:
    return bool(_dist.is_available())


def is_initialized() -> bool:
    return bool(_dist.is_initialized())


def get_world_size(group: Any = None) -> int:
    """Processes in the job (or ``group``): ``WORLD_SIZE`` before initialisation."""
    if _dist.is_initialized():
        return int(_dist.get_world_size(group))
    return _env_int("WORLD_SIZE", 1)


def get_rank(group: Any = None) -> int:
    """This process's rank: ``RANK`` before initialisation."""
    if _dist.is_initialized():
        return int(_dist.get_rank(group))
    return _env_int("RANK", 0)


def get_local_rank() -> int:
    """This process's rank on its instance (``LOCAL_RANK``)."""
    return _env_int("LOCAL_RANK", 0)


def get_local_size() -> int:
    """Processes on this instance (``LOCAL_WORLD_SIZE``)."""
    return _env_int("LOCAL_WORLD_SIZE", 1)


def barrier(group: Any = None) -> None:
    if group is None:
        _dist.barrier()
    else:
        _dist.barrier(group=group)


def all_reduce(
    tensor: torch.Tensor, op: Any = None, group: Any = None, async_op: bool = False
) -> Any:
    """``torch.distributed.all_reduce`` (default ``ReduceOp.SUM``)."""
    return _dist.all_reduce(
        tensor, op=op if op is not None else _dist.ReduceOp.SUM, group=group, async_op=async_op
    )


def __getattr__(name: str) -> Any:
    """Everything else is ``torch.distributed``'s (``broadcast``, ``all_gather``, …)."""
    return getattr(_dist, name)
