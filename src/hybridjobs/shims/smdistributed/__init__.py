"""hybridjobs' stand-in for SageMaker's ``smdistributed`` (data parallelism only)."""
