"""``smdistributed.dataparallel.torch.parallel.distributed.DistributedDataParallel``.

PyTorch's own ``DistributedDataParallel``; without a GPU the ``device_ids`` (which the
SageMaker examples pass as ``[local_rank]``) are dropped, as CPU modules take none.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel as _TorchDDP

from .. import distributed as _smdist


class DistributedDataParallel(_TorchDDP):
    """Gradients averaged over every process of the job's process group."""

    def __init__(self, module: torch.nn.Module, device_ids: Any = None, **kwargs: Any) -> None:
        _smdist.init_process_group()
        if not torch.cuda.is_available():
            device_ids = None
            kwargs.pop("output_device", None)
        super().__init__(module, device_ids=device_ids, **kwargs)
