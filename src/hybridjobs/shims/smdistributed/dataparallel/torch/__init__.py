"""``smdistributed.dataparallel.torch``: ``distributed`` and ``parallel.distributed``."""
