"""The instance agent: runs beside one instance wherever it runs (see :mod:`.agent`)."""
