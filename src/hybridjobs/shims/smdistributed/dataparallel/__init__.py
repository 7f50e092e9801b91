"""``smdistributed.dataparallel``: data parallelism over ``torch.distributed``."""

__version__ = "1.8.0+hybridjobs"
