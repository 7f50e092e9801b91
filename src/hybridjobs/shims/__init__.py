"""Packages put on a job instance's ``PYTHONPATH`` only when its job asks for them.

:data:`SHIMS_DIR` holds ``smdistributed`` (SageMaker's distributed data parallel library
on top of ``torch.distributed``) for jobs with ``sagemaker_distributed_dataparallel_enabled``.
The packages under it are imported as top-level packages inside instances, never as
``hybridjobs.shims.*``.
"""

from pathlib import Path

SHIMS_DIR = Path(__file__).resolve().parent
