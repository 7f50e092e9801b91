"""The jobs domain: the Job model, its statuses and events, and one function per operation."""
