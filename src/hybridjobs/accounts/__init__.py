"""Accounts: access keys and their accounts, each job's own credentials, per-account
quotas and request-rate limits (issue 11; docs/security.md)."""
