"""End-to-end job tests: a live ``hybridjobs serve``, boto3, and real instance processes."""
