"""hybridjobs: a self-hostable Amazon Braket Hybrid Jobs service."""
