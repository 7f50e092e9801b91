"""``smdistributed.dataparallel.torch.parallel``."""
